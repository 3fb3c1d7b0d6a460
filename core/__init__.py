"""The ground floor: errors, settings and the caller's identity. Imports nothing of govshare's own packages."""
