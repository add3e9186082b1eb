"""Tests of `matcher.allocation`."""
