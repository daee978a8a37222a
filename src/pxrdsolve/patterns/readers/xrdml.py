"""PANalytical ``.xrdml`` (XML) scans.

The first ``scan`` of the first ``xrdMeasurement`` is read: ``dataPoints/positions[@axis="2Theta"]``
gives ``startPosition``/``endPosition`` (equally spaced points) or ``listPositions``; the intensities
are ``intensities`` or ``counts``.  The wavelength comes from ``usedWavelength``: ``kAlpha1`` (the
primary line), and, unless the instrument states ``intended="K-Alpha 1"`` (a Kα1 monochromator),
``kAlpha2`` with ``ratioKAlpha2KAlpha1`` as a doublet.  Documents with DTD entities are refused.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from pxrdsolve.diffraction.radiation import Radiation
from pxrdsolve.errors import InputError
from pxrdsolve.patterns.readers.common import RawColumns, doublet_radiation, radiation_from_wavelength


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(node: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in node if _local(c.tag) == name), None)


def _children(node: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in node if _local(c.tag) == name]


def _float(node: ET.Element | None, path: Path, what: str) -> float:
    if node is None or node.text is None:
        raise InputError(f"{path}: XRDML has no {what}")
    try:
        return float(node.text)
    except ValueError:
        raise InputError(f"{path}: XRDML {what} {node.text[:40]!r} is not a number") from None


def _array(node: ET.Element, path: Path, what: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in (node.text or "").split()], dtype=float)
    except ValueError:
        raise InputError(f"{path}: XRDML {what} holds non-numeric values") from None


def _radiation(measurement: ET.Element, path: Path) -> Radiation | None:
    used = _child(measurement, "usedWavelength")
    if used is None:
        return None
    k1 = _child(used, "kAlpha1")
    if k1 is None:
        return None
    lam1 = _float(k1, path, "kAlpha1")
    intended = used.attrib.get("intended", "").replace(" ", "").lower()
    k2, ratio = _child(used, "kAlpha2"), _child(used, "ratioKAlpha2KAlpha1")
    if intended.endswith("alpha1") or k2 is None or ratio is None:
        return radiation_from_wavelength(lam1)
    r = _float(ratio, path, "ratioKAlpha2KAlpha1")
    if r <= 0:
        return radiation_from_wavelength(lam1)
    return doublet_radiation(lam1, _float(k2, path, "kAlpha2"), r)


def read_xrdml(text: str, path: Path) -> RawColumns:
    """Read the first 2θ scan of a PANalytical XRDML file (see module docstring)."""
    if "<!ENTITY" in text or "<!DOCTYPE" in text:
        raise InputError(f"{path}: XML with a DOCTYPE/ENTITY declaration is refused")
    try:
        root = ET.fromstring(text.lstrip("\ufeff"))
    except ET.ParseError as exc:
        raise InputError(f"{path}: not well-formed XML ({exc})") from None
    measurements = [m for m in root.iter() if _local(m.tag) == "xrdMeasurement"]
    scans = [(m, s) for m in measurements for s in _children(m, "scan")]
    if not scans:
        raise InputError(f"{path}: no xrdMeasurement/scan: not a PANalytical XRDML scan")
    warnings = [f"{len(scans)} scans in the file: read the first"] if len(scans) > 1 else []
    measurement, scan = scans[0]
    points = _child(scan, "dataPoints")
    if points is None:
        raise InputError(f"{path}: XRDML scan has no dataPoints")
    y_node = _child(points, "intensities")
    if y_node is None:  # (an Element with no children is falsy: no `or` here)
        y_node = _child(points, "counts")
    if y_node is None:
        raise InputError(f"{path}: XRDML scan has neither intensities nor counts")
    y = _array(y_node, path, y_node.tag)
    positions = [p for p in _children(points, "positions") if p.attrib.get("axis", "").lower() == "2theta"]
    if not positions:
        axes = [p.attrib.get("axis", "?") for p in _children(points, "positions")]
        raise InputError(f"{path}: XRDML scan has no 2Theta positions (axes: {', '.join(axes) or 'none'})")
    pos = positions[0]
    listed = _child(pos, "listPositions")
    if listed is not None:
        x = _array(listed, path, "listPositions")
        if x.size != y.size:
            raise InputError(f"{path}: XRDML has {x.size} 2Theta positions but {y.size} intensities")
    else:
        start = _float(_child(pos, "startPosition"), path, "2Theta startPosition")
        stop = _float(_child(pos, "endPosition"), path, "2Theta endPosition")
        x = np.linspace(start, stop, y.size)
    radiation = _radiation(measurement, path)
    metadata = {
        "format": "xrdml",
        "scan_axis": scan.attrib.get("scanAxis"),
        "intensity_unit": y_node.attrib.get("unit"),
        "y_element": _local(y_node.tag),
    }
    return RawColumns(
        x=x,
        intensity=y,
        esd=None,
        axis="2theta",
        axis_explicit=True,
        radiation=radiation,
        wavelength_source=None if radiation is None else "usedWavelength",
        format="xrdml",
        metadata=metadata,
        warnings=tuple(warnings),
    )
