"""Fixtures for the signing tests: stand-ins for CryptoPro's command-line tools."""
