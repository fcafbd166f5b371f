"""Duplicate scans: group the duplicates already inside a collection or a folder."""

from dupgate.scans.groups import Group, Pair, ScanImage, find_groups, keeper_rule

__all__ = ["Group", "Pair", "ScanImage", "find_groups", "keeper_rule"]
