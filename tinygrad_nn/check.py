"""`python -m tinygrad_nn.check [--seed N]`: the self-check command. It lives in
`tinygrad_nn.checking.selfcheck`; this name is the documented way in."""
import sys

from .checking.selfcheck import format_table, main, run  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
