"""Thin deployment units. A stack creates constructs, wires them with grants, declares outputs."""
