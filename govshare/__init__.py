"""govshare: the GraphQL query service of a two-level government data-sharing platform.

Installed, this is the only top-level package (``pip install .`` puts nothing else into site-packages).
In the checkout its subpackages are symlinks to the repository's top-level folders (core/, server/,
...), so the code is written once and imported as ``govshare.<package>`` everywhere.
"""
