"""data.CharVocab, data.load_text and the names corpus the package ships."""
import hashlib
from importlib.resources import files

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import data


def test_char_vocab_sorts_encodes_and_decodes():
    vocab = data.CharVocab("hello, world\n")
    assert vocab.chars == "\n ,dehlorw" and len(vocab) == 10
    encoded = vocab.encode("world")
    assert encoded.dtype == np.int64 and encoded.tolist() == [9, 7, 8, 6, 3]
    assert vocab.decode(encoded) == "world" and vocab.decode(tg.Tensor(encoded)) == "world"
    assert vocab.decode([]) == "" and vocab.encode("").shape == (0,)


def test_char_vocab_names_what_it_lacks():
    vocab = data.CharVocab("abc")
    with pytest.raises(KeyError, match=r"'z' \(at index 2\)"):
        vocab.encode("abz")
    with pytest.raises(KeyError, match=r"index 3 is outside"):
        vocab.decode([0, 3])
    with pytest.raises(TypeError):
        data.CharVocab(["abc"])


def test_load_text_reads_utf8_and_names_the_file(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_text("première ligne\nzweite Zeile\n", encoding="utf-8")
    assert data.load_text(path) == "première ligne\nzweite Zeile\n"
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        data.load_text(tmp_path / "missing.txt")
    (tmp_path / "latin1.txt").write_bytes("premi\xe8re".encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.txt.*not UTF-8"):
        data.load_text(tmp_path / "latin1.txt")


def test_the_names_corpus_is_shipped_with_its_attribution():
    names = data.load_names()
    assert len(names) == 32033 and names[:3] == ["emma", "olivia", "ava"]
    assert names[-1] == "zzyzx" and set("".join(names)) == set("abcdefghijklmnopqrstuvwxyz")
    folder = files("tinygrad_nn").joinpath("datasets")
    digest = hashlib.sha256(folder.joinpath("names.txt").read_bytes()).hexdigest()
    assert digest == "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"
    readme = folder.joinpath("README.md").read_text("utf-8")
    assert "Copyright (c) 2022 Andrej Karpathy" in readme and "MIT License" in readme
