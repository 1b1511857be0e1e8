"""Check a CDA (or every CDA of an IHE_XDM.ZIP) against the ANS validation kit, offline.

Checks, in the order of the kit README (``shared/validation/README.md`` §2):

A. ``CDA_extended.xsd`` (lxml XML Schema);
B. the CI-SIS header schematron ``ASIP-STRUCT-MIN-StrucMin.sch``;
C. the profile schematrons ``IHE.sch``, ``CI-SIS_ModelesDeContenusCDA.sch``,
   ``CI-SIS_Modeles_ANS.sch``;
D. the document-type ("volet") schematron, chosen from the document's ``<?oxygen SCHSchema?>``
   processing instruction if it names one of the kit, else from the model templateId (none for
   level-1 documents, whose model is IHE XDS-SD);
F. for an XDM archive: ebRS 3.0 ``lcm.xsd`` on each ``METADATA.XML``, then A–D on each CDA.

The schematrons are XSLT-2 (``queryBinding="xslt2"``): lxml cannot run them, SaxonC-HE can
(``saxonche``, the optional ``validation`` extra, imported lazily). The kit is read-only, and the
compiled stylesheet must sit next to its ``.sch`` because value sets are read with relative
``document()`` calls, so the ANS tree is copied once into a cache directory keyed by a hash of
the kit content (``$XDG_CACHE_HOME/mssante/schematron/<hash>/`` or ``~/.cache/...``). Each
schematron is turned into XSLT once on disk, and compiled by Saxon once per process.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from pydantic import BaseModel, ConfigDict

from ..errors import (
    ConfigurationError,
    ContentError,
    InvalidInputError,
    MissingDependencyError,
    XMLError,
)
from ._xml import safe_parse

__all__ = [
    "ConformanceIssue",
    "ConformanceReport",
    "Validator",
    "find_kit",
    "validate",
    "validator_for",
]

_log = logging.getLogger("mssante_client.document")

KIT_ENV = "MSSANTE_VALIDATION_KIT"
_ANS = "ansforge-TestContenuCDA-3-0"
_SVRL = "{http://purl.oclc.org/dsdl/svrl}"
_RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
_INSTALL = "pip install 'mssante_client[validation]'"

#: Check name -> schematron path inside the ANS tree (B and C).
PROFILE_SCHEMATRONS = {
    "StrucMin": "schematrons/profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
    "IHE": "schematrons/profils/IHE.sch",
    "ModelesDeContenusCDA": "schematrons/profils/CI-SIS_ModelesDeContenusCDA.sch",
    "Modeles_ANS": "schematrons/profils/CI-SIS_Modeles_ANS.sch",
}

#: Model templateId -> volet schematron (kit README §4), used without an oxygen PI.
VOLET_BY_TEMPLATE = {
    "1.2.250.1.213.1.1.1.29": "CI-SIS_LDL-SES_2022.01.sch",
    "1.2.250.1.213.1.1.1.21": "CI-SIS_LDL-EES_2022.01.sch",
    "1.2.250.1.213.1.1.1.55": "CI-SIS_BIO-CR-BIO_2024.01.sch",
    "1.2.250.1.213.1.1.1.45": "CI-SIS_IMG-CR-IMG_2024.01.sch",
    "1.2.250.1.213.1.1.1.40": "CI-SIS_ANEST-CR-ANEST_2022.01.sch",
    "1.2.250.1.213.1.1.1.41": "CI-SIS_ANEST-CR-CPA_2022.01.sch",
    "1.2.250.1.213.1.1.1.51": "CI-SIS_IPS-FR_2024.01.sch",
}
_VOLET_PI = re.compile(rb'SCHSchema="\.\./schematrons/(CI-SIS_[A-Za-z0-9._-]+\.sch)"')
_WARNING_ROLES = {"warning", "warn", "info", "information", "hint"}


class ConformanceIssue(BaseModel):
    """One failed check: which check, where (XPath or entry name) and the validator's message."""

    model_config = ConfigDict(frozen=True)

    check: str
    location: str | None = None
    message: str
    document: str | None = None
    """For an XDM archive: the entry the issue belongs to."""


class ConformanceReport(BaseModel):
    """Outcome of :func:`validate`: ``valid`` is true when no check reported an error."""

    model_config = ConfigDict(frozen=True)

    valid: bool
    errors: list[ConformanceIssue]
    warnings: list[ConformanceIssue] = []
    checks: list[str]
    """Checks that ran, e.g. ``XSD``, ``StrucMin``, ``volet:CI-SIS_LDL-SES_2022.01``."""
    skipped: list[str] = []
    """Checks that could not run, with the reason (a volet schematron that does not compile)."""
    documents: list[str] = []


# --- kit location ---------------------------------------------------------------------------


def find_kit(kit: Path | str | None = None) -> Path:
    """Locate the validation kit: argument, ``$MSSANTE_VALIDATION_KIT``, ``../shared/validation``
    relative to the working directory, then relative to the repository of this package.

    Raises :class:`ConfigurationError` naming the environment variable when none is found.
    """
    candidates: list[Path] = []
    if kit is not None:
        candidates.append(Path(kit))
    else:
        if os.environ.get(KIT_ENV):
            candidates.append(Path(os.environ[KIT_ENV]))
        candidates.append(Path.cwd().parent / "shared" / "validation")
        candidates.append(Path(__file__).resolve().parents[3] / "shared" / "validation")
    for path in candidates:
        if (path / _ANS / "infrastructure" / "cda" / "CDA_extended.xsd").is_file():
            return path.resolve()
    tried = ", ".join(str(p) for p in candidates)
    raise ConfigurationError(
        f"ANS validation kit not found (tried {tried}); set {KIT_ENV} to its directory"
    )


def _kit_hash(kit: Path) -> str:
    """Content hash of the ANS tree (paths + bytes) so a changed kit gets a fresh cache."""
    digest = hashlib.sha256()
    base = kit / _ANS
    for path in sorted(base.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(base)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mssante" / "schematron"


# --- Saxon (lazy) ---------------------------------------------------------------------------


_processor: Any = None


def _saxon() -> Any:
    """One SaxonC processor per process, created on first use (``saxonche`` is optional)."""
    global _processor
    if _processor is None:
        try:
            from saxonche import PySaxonProcessor
        except ImportError as exc:
            raise MissingDependencyError("saxonche (XSLT-2 schematron engine)", _INSTALL) from exc
        proc = PySaxonProcessor(license=False)
        # SaxonC-HE's optimiser crashes on most volet stylesheets ("Bad parent pointer").
        proc.set_configuration_property("http://saxon.sf.net/feature/optimizationLevel", "0")
        _processor = proc
    return _processor


def _skeleton_dir() -> Path:
    import lxml

    return (
        Path(lxml.__file__).parent
        / "isoschematron"
        / "resources"
        / "xsl"
        / ("iso-schematron-xslt1")
    )


@dataclass
class Validator:
    """A kit, its cache copy and the compiled schematrons; reuse one to pay compilation once."""

    kit: Path
    work: Path = field(init=False)
    _compiled: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _xsd: Any = field(default=None, init=False, repr=False)
    _lcm: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.kit = find_kit(self.kit)
        self.work = self._prepare_cache()

    # -- set-up -------------------------------------------------------------------------------

    def _prepare_cache(self) -> Path:
        target = _cache_root() / _kit_hash(self.kit)
        tree = target / _ANS
        if tree.is_dir():
            return tree
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="kit-", dir=target.parent))
        try:
            shutil.copytree(self.kit / _ANS, staging / _ANS)
            for path in (staging / _ANS).rglob("*"):
                path.chmod(0o755 if path.is_dir() else 0o644)
            try:
                staging.rename(target)
            except OSError:  # another process won the race: use its copy
                shutil.rmtree(staging, ignore_errors=True)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise ConfigurationError(f"cannot prepare the schematron cache: {exc}") from exc
        return tree

    def _xsl_for(self, sch: Path) -> Path:
        """Turn a .sch into XSLT next to it with lxml's ISO skeleton run by Saxon (README §4)."""
        out = sch.with_suffix(".xsl")
        if out.is_file():
            return out
        proc = _saxon()
        xslt = proc.new_xslt30_processor()
        skel = _skeleton_dir()
        inc, expand, svrl = (
            xslt.compile_stylesheet(stylesheet_file=str(skel / name))
            for name in (
                "iso_dsdl_include.xsl",
                "iso_abstract_expand.xsl",
                "iso_svrl_for_xslt1.xsl",
            )
        )
        # Per-process names: two processes may compile the same schematron at once.
        step1 = out.with_suffix(f".xsl.{os.getpid()}.1")
        step2 = out.with_suffix(f".xsl.{os.getpid()}.2")
        try:
            step1.write_text(inc.transform_to_string(source_file=str(sch)), encoding="utf-8")
            expanded = etree.fromstring(
                expand.transform_to_string(source_file=str(step1)).encode("utf-8")
            )
            # lxml ships only the XSLT-1 skeleton, which refuses queryBinding "xslt2".
            expanded.set("queryBinding", "xslt")
            etree.ElementTree(expanded).write(str(step2))
            code = svrl.transform_to_string(source_file=str(step2))
            code = re.sub(
                r'(<xsl:stylesheet[^>]*?)version="1.0"', r'\1version="2.0"', code, count=1
            )
            partial = out.with_suffix(f".xsl.{os.getpid()}")
            partial.write_text(code, encoding="utf-8")
            partial.replace(out)
        finally:
            step1.unlink(missing_ok=True)
            step2.unlink(missing_ok=True)
        return out

    def _stylesheet(self, relpath: str) -> Any:
        """The Saxon executable of a schematron, compiled once per process."""
        with self._lock:
            if relpath not in self._compiled:
                sch = self.work / relpath
                if not sch.is_file():
                    raise ConfigurationError(f"schematron {relpath} is not in the kit")
                try:
                    xsl = self._xsl_for(sch)
                    xslt = _saxon().new_xslt30_processor()
                    self._compiled[relpath] = xslt.compile_stylesheet(stylesheet_file=str(xsl))
                except MissingDependencyError:
                    raise
                except Exception as exc:  # SaxonApiError and friends: name the schematron
                    raise ConfigurationError(
                        f"schematron {Path(relpath).name} does not compile: {exc}"
                    ) from exc
            return self._compiled[relpath]

    def _schema(self) -> Any:
        if self._xsd is None:
            path = self.kit / _ANS / "infrastructure" / "cda" / "CDA_extended.xsd"
            self._xsd = etree.XMLSchema(etree.parse(str(path)))
        return self._xsd

    def _lcm_schema(self) -> Any:
        if self._lcm is None:
            path = self.kit / "ebrs-3.0" / "lcm.xsd"
            if not path.is_file():
                raise ConfigurationError(f"ebRS schema missing from the kit: {path}")
            self._lcm = etree.XMLSchema(etree.parse(str(path)))
        return self._lcm

    def warm_up(self) -> None:
        """Compile the header and profile schematrons now (a few seconds, once)."""
        for rel in PROFILE_SCHEMATRONS.values():
            self._stylesheet(rel)

    # -- checks -------------------------------------------------------------------------------

    def check_cda(self, data: bytes, *, name: str | None = None) -> ConformanceReport:
        """Run checks A–D on one CDA."""
        errors: list[ConformanceIssue] = []
        warnings: list[ConformanceIssue] = []
        checks: list[str] = []
        skipped: list[str] = []
        try:
            root = safe_parse(data, what="CDA document")
        except XMLError as exc:
            issue = ConformanceIssue(check="XML", message=str(exc), document=name)
            return ConformanceReport(
                valid=False, errors=[issue], checks=["XML"], documents=[name or "CDA"]
            )
        schema = self._schema()
        checks.append("XSD")
        if not schema.validate(root):
            for err in schema.error_log:
                errors.append(
                    ConformanceIssue(
                        check="XSD",
                        location=f"line {err.line}" + (f" {err.path}" if err.path else ""),
                        message=err.message,
                        document=name,
                    )
                )
        volets = self._volets(data, root)
        targets = [(k, v) for k, v in PROFILE_SCHEMATRONS.items()]
        targets += [(f"volet:{v[:-4]}", f"schematrons/{v}") for v in volets]
        with tempfile.TemporaryDirectory(prefix="mssante-cda-") as tmp:
            doc_path = Path(tmp) / "document.xml"
            doc_path.write_bytes(data)
            for check, rel in targets:
                try:
                    stylesheet = self._stylesheet(rel)
                except ConfigurationError as exc:
                    if check.startswith("volet:"):
                        skipped.append(f"{check}: {exc}")
                        continue
                    raise
                checks.append(check)
                svrl = stylesheet.transform_to_string(source_file=str(doc_path))
                for issue, is_error in _svrl_issues(svrl, check, name):
                    (errors if is_error else warnings).append(issue)
        return ConformanceReport(
            valid=not errors,
            errors=errors,
            warnings=warnings,
            checks=checks,
            skipped=skipped,
            documents=[name or "CDA"],
        )

    def _volets(self, data: bytes, root: etree._Element) -> list[str]:
        names = [m.decode() for m in _VOLET_PI.findall(data[:8192])]
        if not names:
            ns = "{urn:hl7-org:v3}"
            for tid in root.findall(f"{ns}templateId"):
                found = VOLET_BY_TEMPLATE.get(tid.get("root", ""))
                if found:
                    names.append(found)
        return [n for n in dict.fromkeys(names) if (self.work / "schematrons" / n).is_file()]

    def check_xdm(self, data: bytes) -> ConformanceReport:
        """Check F on an IHE_XDM.ZIP, then A–D on each CDA in it.

        The archive is read by the XDM reader (archive safety, URI resolution, size and SHA-1,
        CDA/metadata cross-checks: its ERROR findings are errors here); each ``METADATA.XML``
        is validated against ebRS 3.0 ``lcm.xsd`` with the schema's own messages.
        """
        from .archive import SafeArchive
        from .xdm_read import read_xdm

        errors: list[ConformanceIssue] = []
        warnings: list[ConformanceIssue] = []
        checks: list[str] = ["XDM"]
        skipped: list[str] = []
        documents: list[str] = []
        try:
            package = read_xdm(data, keep_bytes=True)
            with SafeArchive(data) as archive:
                metas = [
                    (e.name, archive.read(e.name))
                    for e in archive.entries
                    if re.fullmatch(r"IHE_XDM/[^/]+/METADATA\.XML", e.name.upper())
                ]
        except (ContentError, InvalidInputError) as exc:
            issue = ConformanceIssue(check="XDM", message=str(exc))
            return ConformanceReport(valid=False, errors=[issue], checks=checks)
        for finding in package.findings:
            issue = ConformanceIssue(
                check=f"XDM:{finding.code}", message=finding.message, document=finding.entry
            )
            if finding.severity.value == "error":
                errors.append(issue)
            elif finding.severity.value == "warning":
                warnings.append(issue)
        schema = self._lcm_schema()
        for name, raw in metas:
            checks.append(f"ebRS:{name}")
            try:
                ok = schema.validate(safe_parse(raw, what=name))
            except XMLError as exc:
                errors.append(ConformanceIssue(check="ebRS", message=str(exc), document=name))
                continue
            if not ok:
                errors += [
                    ConformanceIssue(
                        check="ebRS", location=f"line {e.line}", message=e.message, document=name
                    )
                    for e in schema.error_log
                ]
        for packaged in package.entries:
            if packaged.document is None or packaged.content is None:
                continue
            name = packaged.path or packaged.entry.uri or "CDA"
            sub = self.check_cda(packaged.content, name=name)
            errors += sub.errors
            warnings += sub.warnings
            checks += [f"{c}:{name}" for c in sub.checks]
            skipped += sub.skipped
            documents.append(name)
        if not documents:
            errors.append(ConformanceIssue(check="XDM", message="no CDA document in the archive"))
        return ConformanceReport(
            valid=not errors,
            errors=errors,
            warnings=warnings,
            checks=checks,
            skipped=skipped,
            documents=documents,
        )

    def check(self, source: bytes | Path | str) -> ConformanceReport:
        """Check a CDA or an XDM archive given as bytes or a path (ZIP detected by content)."""
        if isinstance(source, str | Path):
            try:
                data = Path(source).read_bytes()
            except OSError as exc:
                raise ConfigurationError(f"cannot read {source}: {exc.strerror}") from exc
        else:
            data = bytes(source)
        if data[:4] == b"PK\x03\x04":
            return self.check_xdm(data)
        return self.check_cda(data)


def _svrl_issues(
    svrl: str, check: str, name: str | None
) -> Iterator[tuple[ConformanceIssue, bool]]:
    report = etree.fromstring(svrl.encode("utf-8"))
    for node in report.iter(f"{_SVRL}failed-assert", f"{_SVRL}successful-report"):
        role = (node.get("role") or "").lower()
        if node.tag == f"{_SVRL}successful-report" and role not in ("error", "fatal"):
            continue
        text = " ".join("".join(str(t) for t in node.itertext()).split())
        issue = ConformanceIssue(
            check=check, location=node.get("location"), message=text, document=name
        )
        yield issue, role not in _WARNING_ROLES


_validators: dict[Path, Validator] = {}
_validators_lock = threading.Lock()


def validator_for(kit: Path | str | None = None) -> Validator:
    """The process-wide :class:`Validator` of a kit (created, and its cache copied, once)."""
    path = find_kit(kit)
    with _validators_lock:
        validator = _validators.get(path)
        if validator is None:
            validator = _validators[path] = Validator(path)
    return validator


def validate(source: bytes | Path | str, kit: Path | str | None = None) -> ConformanceReport:
    """Check a CDA or an IHE_XDM.ZIP against the ANS kit (see module doc for the checks).

    The kit defaults to ``$MSSANTE_VALIDATION_KIT`` then ``../shared/validation``. Compiled
    schematrons are cached per kit for the life of the process (and their XSLT on disk).
    Raises :class:`ConfigurationError` without a kit and :class:`MissingDependencyError`
    without ``saxonche``.
    """
    return validator_for(kit).check(source)
