"""The hazmat boundary: only gateway/crypto/ touches a cryptography library or its key types.

Like ``cryptography.hazmat``, ``gateway.crypto._primitives`` is sharp. Everything else in
``gateway/`` goes through the recipes (FieldCipher, blind_index, sign, certificate_names
...) and the key types gateway.crypto names; no module outside gateway/crypto/ imports
``cryptography``, PyNaCl, the SM2 binding or the PKCS#11 binding. This scans every
module's imports, including relative imports and ``importlib`` calls.
``gateway/crypto/key_files.py`` may use x509 and asymmetric key generation, never a cipher.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gateway"
CRYPTO = PACKAGE / "crypto"
# Raw symmetric ciphers (AEAD and the bare Cipher/modes API) and our private primitives.
FORBIDDEN = (
    "gateway.crypto._primitives",
    # The libraries and their key types stay inside gateway/crypto/.
    "cryptography",
    "nacl",
    "tongsuopy",
    "pkcs11",
)
# What gateway/crypto/key_files.py (the development PKI) must not use either: a cipher.
CIPHERS = ("gateway.crypto._primitives", "cryptography.hazmat.primitives.ciphers")
_IMPORT_FUNCTIONS = {"import_module", "__import__"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_forbidden(name: str, banned: tuple[str, ...] = FORBIDDEN) -> bool:
    return any(name == ban or name.startswith(ban + ".") for ban in banned)


def forbidden_imports(source: str, module: str, *, is_package: bool = False,
                      banned: tuple[str, ...] = FORBIDDEN) -> list[str]:
    """The forbidden module names that a module's source imports."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names = [prefix, *(f"{prefix}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in _IMPORT_FUNCTIONS and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names = [first.value]
        found += [name for name in names if _is_forbidden(name, banned)]
    return found


def _modules_outside_crypto() -> list[Path]:
    return [
        path for path in sorted(PACKAGE.rglob("*.py"))
        if CRYPTO not in path.parents and "_proto" not in path.parts
    ]


def test_scan_sees_the_package() -> None:
    modules = _modules_outside_crypto()
    assert PACKAGE / "identify" / "certificate.py" in modules
    assert PACKAGE / "errors.py" in modules
    assert not any(CRYPTO in path.parents for path in modules)


def test_nothing_outside_crypto_imports_primitives_or_raw_ciphers() -> None:
    offenders = {
        str(path.relative_to(ROOT)): names
        for path in _modules_outside_crypto()
        if (names := forbidden_imports(
            path.read_text(encoding="utf-8"), _module_name(path),
            is_package=path.name == "__init__.py",
        ))
    }
    assert offenders == {}, "import the recipes and key types from gateway.crypto instead"


def test_keys_module_uses_no_cipher() -> None:
    source = (CRYPTO / "key_files.py").read_text(encoding="utf-8")
    assert forbidden_imports(source, "gateway.crypto.key_files", banned=CIPHERS) == []
    assert "AESGCM" not in source


@pytest.mark.parametrize(
    ("source", "module", "is_package"),
    [
        ("import gateway.crypto._primitives", "gateway.x", False),
        ("import gateway.crypto._primitives as p", "gateway.x", False),
        ("from gateway.crypto import _primitives", "gateway.x", False),
        ("from gateway.crypto._primitives import seal", "gateway.x", False),
        ("from .crypto import _primitives", "gateway.server", False),
        ("from ..crypto._primitives import seal", "gateway.audit.log", False),
        ("from ..crypto import _primitives", "gateway.audit", True),
        ("from cryptography.hazmat.primitives.ciphers.aead import AESGCM", "gateway.x", False),
        ("from cryptography.hazmat.primitives.ciphers import aead", "gateway.x", False),
        ("from cryptography.hazmat.primitives.ciphers import Cipher", "gateway.x", False),
        ("import cryptography.hazmat.primitives.ciphers.aead", "gateway.x", False),
        ("importlib.import_module('gateway.crypto._primitives')", "gateway.x", False),
        ("def f():\n    from gateway.crypto import _primitives", "gateway.x", False),
        ("from tongsuopy.crypto.asymciphers import ec", "gateway.x", False),
        ("import pkcs11", "gateway.x", False),
        ("from pkcs11.mechanisms import GCMParams", "gateway.x", False),
        ("import nacl.signing", "gateway.x", False),
        ("from nacl.signing import SigningKey, VerifyKey", "gateway.x", False),
        ("from cryptography import x509", "gateway.x", False),
        ("from cryptography.hazmat.primitives.asymmetric import ec", "gateway.x", False),
        ("def f():\n    import nacl.public", "gateway.x", False),
    ],
)
def test_scanner_catches_each_import_form(source: str, module: str, is_package: bool) -> None:
    assert forbidden_imports(source, module, is_package=is_package)


@pytest.mark.parametrize(
    "source",
    [
        "from gateway.crypto.fields import FieldCipher, FieldContext",
        "from gateway.crypto.signatures import SigningKey, VerifyKey",
        "from gateway.crypto.certificates import certificate_names",
        '"""Never import gateway.crypto._primitives, nacl or cryptography."""',
    ],
)
def test_scanner_allows_the_safe_api(source: str) -> None:
    assert forbidden_imports(source, "gateway.x") == []
