"""JobMatcher: a person's job-search data, kept safe.

The package is a library first: the command line (`cli`) and the desktop
window (`app`) are thin layers over the engine modules below.
"""

__version__ = "0.1.0"
