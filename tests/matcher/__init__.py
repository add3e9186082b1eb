"""Tests of `matcher`."""
