"""The kernels' C stays findable: every definition a template makes under a
macro-built name (FL_NAME(fl_x_), FL_VOP(x)) names its expansions for each
element type in the comment above it, so that grep and ctags users find
fl_x_f and fl_x_d where they are defined; and the package ships the C it
was built from (the headers are read from the installed package)."""

import os
import re

import pytest

from fastloss import _kernels

C = os.path.join(os.path.dirname(_kernels.__file__), "c")
HEADERS = sorted(name for name in os.listdir(C) if name.endswith(".h"))
DEFINITION = re.compile(
    r"^(?:static|FL_INLINE)\b[^;{]*?\b(?:FL_NAME\((\w+)\)|FL_VOP\((\w+)\)|(FL_VANY))\(",
    re.M)
TYPEDEF = re.compile(r"^\} FL_NAME\((\w+)\);", re.M)


def expansions(match):
    """The names a templated definition has for float and for double."""
    name_, vop, vany = match.groups()
    if name_:
        return [name_ + "f", name_ + "d"]
    if vop:
        return ["vf_" + vop, "vd_" + vop]
    return ["vi32_any", "vi64_any"]


def comment_above(text, start):
    """The comment block that ends on the line before ``start``, above any
    one-line definitions between them ('' if none)."""
    before = text[:start].rstrip("\n")
    while not before.endswith("*/"):
        line = before[before.rfind("\n") + 1:]
        if not (line.startswith("FL_INLINE") and line.endswith("}")):
            return ""
        before = before[:before.rfind("\n")].rstrip("\n")
    return before[before.rfind("/*"):]


def test_the_c_ships_with_the_package():
    for name in ("kernels.h", "points.h", "vec.h", "vmath.h", "softmax.h", "cross_entropy.h",
                 "elementwise.h", "floors.h", "rows.h"):
        assert name in HEADERS


@pytest.mark.parametrize("header", HEADERS)
def test_templated_definitions_name_their_expansions(header):
    with open(os.path.join(C, header)) as f:
        text = f.read()
    found = list(DEFINITION.finditer(text))
    for m in found:
        comment = comment_above(text, m.start())
        for name in expansions(m):
            assert re.search(rf"\b{name}\b", comment), (
                f"{header}: the definition of {name} is not named in the comment above it")
    for m in TYPEDEF.finditer(text):
        block = text[text.rfind("typedef struct", 0, m.start()):m.start()]
        comment = comment_above(text, text.rfind("typedef struct", 0, m.start()))
        for name in (m.group(1) + "f", m.group(1) + "d"):
            assert name in comment or name in block, f"{header}: {name}"


def test_the_pairs_drivers_call_are_the_templates():
    """Each fl_x(...) of kernels.h (the calls drivers.pxi makes) is a pair that
    a template defines: grep for fl_x_f leads to its definition."""
    with open(os.path.join(C, "kernels.h")) as f:
        kernels_h = f.read()
    pairs = re.findall(r"^#define (fl_\w+)\(\w+, .*FL_GENERIC\(\w+, (fl_\w+)\)", kernels_h, re.M)
    assert len(pairs) > 10
    defined = set()
    for header in HEADERS:
        with open(os.path.join(C, header)) as f:
            text = f.read()
        defined |= {n for m in DEFINITION.finditer(text) for n in expansions(m)}
        defined |= set(re.findall(r"^static \w+ (fl_\w+)\(", text, re.M))
    for macro, pair in pairs:
        assert macro == pair
        assert {pair + "_f", pair + "_d"} <= defined, pair
