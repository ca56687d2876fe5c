"""The bundle's entry point: the same `jobmatcher` command as the console script.

PyInstaller runs this file as `__main__`; it cannot use `jobmatcher/__main__.py`
directly because that one imports relatively (`from .entry import main`).
"""

import sys

if __name__ == "__main__" and sys.argv[1:2] == ["--jobmatcher-integrity-check"]:
    # The integrity check's child process (jobmatcher.checkproc.CHILD_FLAG): the standard library only.
    from jobmatcher.checkchild import child_main

    sys.exit(child_main(sys.argv[2:]))

if __name__ == "__main__" and sys.argv[1:2] == ["--jobmatcher-encrypt"]:
    # The encrypting child of a copy to a location (jobmatcher.locations.encproc.CHILD_FLAG).
    from jobmatcher.locations.encproc import child_main as encrypt_main

    sys.exit(encrypt_main(sys.argv[2:]))

if __name__ == "__main__" and sys.argv[1:2] == ["--jobmatcher-key"]:
    # The child opening or locking the encryption key with a passphrase (jobmatcher.locations.keyproc.CHILD_FLAG).
    from jobmatcher.locations.keyproc import child_main as key_main

    sys.exit(key_main(sys.argv[2:]))

from jobmatcher.entry import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
