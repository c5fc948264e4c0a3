"""Every contract in wsdl/ through the client generators of the stacks a МИС is built with.

* .NET: Mono's ``wsdl`` tool (the ASMX wsdl.exe) generates a C# proxy, ``mcs`` compiles it, and
  each operation comes out unwrapped: ``CheckPatientResult CheckPatient(Patient Patient)``, its
  parameters being the wrapper element's children, not ``CheckPatient(CheckPatient)``.
* Java: ``wsimport`` (the JAX-WS reference implementation, Debian ``jaxws``) generates and compiles
  a client; each operation is in wrapper style (``@RequestWrapper``), i.e. unwrapped too.

The generators are required, not optional: when one is missing the test fails and says what to
install (scripts/install-system-deps.sh installs them for ``make test``). The story a generated
.NET client tells against a running bridge is in test_foreign_clients.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from tests.bridgeproc import ROOT

CONTRACTS = sorted((ROOT / "wsdl").glob("*.wsdl"))
TIMEOUT = 180


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: apt-get install -y --no-install-recommends {package}")
    return found


def operations(contract: Path) -> list[str]:
    names = etree.parse(str(contract)).xpath(
        "//*[local-name()='portType']/*[local-name()='operation']/@name")
    assert isinstance(names, list) and names
    return [str(name) for name in names]


def run(argv: list[str], cwd: Path) -> None:
    completed = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    assert completed.returncode == 0, (
        f"{' '.join(argv)} exited {completed.returncode}:\n{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}")


def wrapped_in_dotnet(source: str, names: list[str]) -> list[str]:
    """The operations of a generated C# proxy that take their wrapper element, not its children."""
    wrapped = []
    for operation in names:
        # the synchronous method: public <Result> Op(<parameters>) {
        [parameters] = re.findall(rf"\n    public [\w.<>\[\]]+ {operation}\((.*)\) {{", source) or [None]
        assert parameters is not None, f"no method {operation}"
        if re.match(rf"(\[[^\]]*\] )*{operation} ", parameters):
            wrapped.append(f"{operation}({parameters})")
    return wrapped


def dotnet_proxy(contract: Path, work: Path) -> str:
    proxy = work / "Proxy.cs"
    run([tool("wsdl", "mono-devel"), "-nologo", f"-out:{proxy}", str(contract)], work)
    run([tool("mcs", "mono-devel"), "-target:library", f"-out:{work / 'Proxy.dll'}",
         "-r:System.Web.Services", str(proxy)], work)
    return proxy.read_text(encoding="utf-8")


@pytest.mark.parametrize("contract", CONTRACTS, ids=[c.stem for c in CONTRACTS])
def test_dotnet_proxy_compiles_with_unwrapped_operations(contract: Path, tmp_path: Path) -> None:
    assert wrapped_in_dotnet(dotnet_proxy(contract, tmp_path), operations(contract)) == []


def test_parts_named_after_elements_are_seen_wrapped(tmp_path: Path) -> None:
    """The check above can fail: the contract with its parts named as spyne names them."""
    contract = CONTRACTS[0]
    tree = etree.parse(str(contract))
    for part in tree.iter("{http://schemas.xmlsoap.org/wsdl/}part"):
        part.set("name", str(part.get("element")).split(":")[-1])
    old = tmp_path / contract.name
    tree.write(str(old), xml_declaration=True, encoding="UTF-8")
    names = operations(contract)
    assert len(wrapped_in_dotnet(dotnet_proxy(old, tmp_path), names)) == len(names)


@pytest.mark.parametrize("contract", CONTRACTS, ids=[c.stem for c in CONTRACTS])
def test_java_wsimport_compiles_a_client_in_wrapper_style(contract: Path, tmp_path: Path) -> None:
    package = "ru.misbridge." + re.sub(r"\W", "_", contract.stem)
    sources, classes = tmp_path / "src", tmp_path / "classes"
    sources.mkdir()
    classes.mkdir()
    tool("javac", "default-jdk-headless")
    run([tool("wsimport", "jaxws"), "-quiet", "-keep", "-s", str(sources), "-d", str(classes),
         "-p", package, str(contract)], tmp_path)
    assert list(classes.rglob("*.class")), "wsimport compiled nothing"
    generated = "\n".join(p.read_text(encoding="utf-8") for p in sources.rglob("*.java"))
    assert "ParameterStyle.BARE" not in generated
    for operation in operations(contract):
        assert f'@RequestWrapper(localName = "{operation}"' in generated, f"{contract.name}: {operation} is not wrapped"
