"""HTTP app, settings, identity and command line of govshare."""
