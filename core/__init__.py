"""The ground floor: errors and settings. Imports nothing of govshare's own packages."""
