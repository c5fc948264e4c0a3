"""ЕСИА login over OAuth 2.0 / OpenID Connect (v2/ac + v3/te, legacy v1 by configuration)."""
