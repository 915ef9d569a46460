"""`python -m tinygrad_nn [options]` trains the circles example (its options are accepted);
`python -m tinygrad_nn --help` lists every example."""
import sys
import textwrap

from tinygrad_nn.examples import circles, deep_sigmoid, digits, names, spirals
from tinygrad_nn.examples.common import run

EXAMPLES = {"circles": circles, "deep_sigmoid": deep_sigmoid, "spirals": spirals,
            "digits": digits, "names": names}


def usage():
    lines = ["usage: python -m tinygrad_nn [circles options]", "",
             "Trains the circles example. The examples (each takes --help):", ""]
    for name, example in EXAMPLES.items():
        summary = example.__doc__.split("\n\n")[0]
        lines.append(f"  python -m tinygrad_nn.examples.{name}")
        lines.append(textwrap.fill(summary, width=79, initial_indent=" " * 6,
                                   subsequent_indent=" " * 6))
    lines += ["", "The circles options:", ""]
    help_text = circles.build_parser("python -m tinygrad_nn").format_help()
    lines.append(help_text[help_text.index("options:"):].rstrip())
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if "-h" in argv or "--help" in argv:
        print(usage())
        return None
    return circles.main(argv, prog="python -m tinygrad_nn")


if __name__ == "__main__":
    run(main)
