"""The frozen EsiaAccounts WSDL, consumed unchanged by five foreign SOAP clients.

Each client runs the whole МИС story against the real bridge (sandbox СМЭВ node with ЕСИА's
reg_service behind it, answering at once), with its own fresh patient who carries a passport and
Gender (ЕСИА's register and confirm require the identity document, docs/esia-accounts.md):

    CheckPatient → NOT_FOUND
    CheckPatient with a wrong SNILS checksum → Client.InvalidField naming Snils
    RegisterPatient without MobilePhone → Client.InvalidField naming MobilePhone
    RegisterPatient → Login = Snils, TemporaryPassword empty, Message: ЕСИА sent the password by SMS
    (MobilePhone changed in the МИС) CheckPatient → MISMATCH, one difference: MobilePhone
    UpdatePatient → Message
    CheckPatient → MATCH
    ResetPassword → TemporaryPassword empty, Message: ЕСИА sent the new password by SMS

Over СМЭВ ЕСИА's find_account reports *by which identifiers* it found the account, never the data it
holds, so the МИС-side change the story makes is the mobile phone (a birth date that differs cannot
be seen), and the password goes to the patient's phone, not to the МИС (assumptions A3, A4 there).

zeep and suds run in-process; PHP's SoapClient, node's ``soap`` and a .NET client run as
subprocesses (tests/interop/php, tests/interop/node, tests/interop/dotnet: Mono's ``wsdl`` tool
generates the C# proxy from the served WSDL, ``mcs`` compiles it with EsiaAccountsStory.cs) and
print the same JSON shape the in-process runners build, so one set of assertions judges all five.
The toolchains are required, not optional: when one is missing the test fails and says what to install
(tests/interop/README.md).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from bridge.identifiers import snils_check_digits
from tests.bridgeproc import ROOT, BridgeProcess, start_bridge
from tests.conftest import make_patient

SERVICE = "esia-accounts"
WSDL_FILE = ROOT / "wsdl" / f"{SERVICE}.wsdl"
INTEROP = ROOT / "tests" / "interop"
PHP_SCRIPT = INTEROP / "php" / "esia_accounts.php"
NODE_DIR = INTEROP / "node"
NODE_SCRIPT = NODE_DIR / "esia_accounts.js"
DOTNET_STORY = INTEROP / "dotnet" / "EsiaAccountsStory.cs"
SUBPROCESS_TIMEOUT = 45
HOW_TO_INSTALL = "see tests/interop/README.md"

Step = dict[str, Any]


# --- the bridge and the flow's input ---------------------------------------------------------

# What RegisterPatient and ResetPassword say instead of a password (adapters/esia/_service.py).
SMS_SENT = "отправила SMS на мобильный телефон пациента"
# How each client hands back an empty xs:string element (<TemporaryPassword/>); the others give "".
EMPTY_ELEMENT_READ_AS: dict[str, str | None] = {"zeep": None, "suds": None}
# What CheckPatient puts as ЕСИА's value: find_account tells that the phone differs, not the phone it holds.
NOT_TOLD = "другое (ЕСИА значение не сообщает)"


def start_story_bridge(tmp: Path, config: dict[str, Any] | None = None) -> BridgeProcess:
    """A bridge whose sandbox ЕСИА answers at once, so each press is answered within the МИС's wait.

    The sandbox reg_service waits 1 s by default (ЕСИА checking БГИР); a story of eight presses
    through five clients would spend most of its time there, and a slow machine could turn a press
    into ``Server.AnswerPending`` — which is not what these tests are about.
    """
    process = start_bridge(tmp, config=config)
    try:
        with process.sandbox("esia") as esia:
            esia.put("/_sandbox/reg-service", json={"delay_seconds": 0}).raise_for_status()
    except BaseException:
        process.stop()
        raise
    return process


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BridgeProcess]:
    process = start_story_bridge(tmp_path_factory.mktemp("foreign-clients"))
    yield process
    process.stop()


def passport() -> dict[str, str]:
    """Each patient their own passport: ЕСИА finds an account by the passport too (matches idoc)."""
    return {"PassportSeries": "6710", "PassportNumber": f"{random.randint(0, 999_999):06d}",
            "PassportIssueDate": "01.09.2004", "PassportIssuerCode": "862-010",
            "PassportIssuedBy": "ОВД г. Сургута"}


def flow_input() -> dict[str, Any]:
    """A fresh patient with a passport, the MobilePhone the МИС changes to, a SNILS with wrong check digits."""
    patient = make_patient(**passport())
    changed = patient["MobilePhone"]
    while changed == patient["MobilePhone"]:
        changed = "8903" + f"{random.randint(0, 9_999_999):07d}"
    first9, check = patient["Snils"][:9], snils_check_digits(patient["Snils"][:9])
    return {
        "patient": patient,
        "changedMobilePhone": changed,
        "badSnils": first9 + f"{(int(check) + 1) % 100:02d}",
    }


# --- in-process clients: build the same JSON shape the PHP and node scripts print ----------


def _get(obj: Any, name: str) -> Any:
    """An element's value, None when absent (suds leaves absent elements out of its objects)."""
    return None if obj is None else getattr(obj, name, None)


def _text(value: Any) -> Any:
    return None if value is None else str(value)  # suds hands back Text (a str subclass)


def _check_answer(r: Any) -> Step:
    differences = _get(_get(r, "Differences"), "FieldDifference")
    actions = _get(_get(r, "AllowedActions"), "AllowedAction")
    return {
        "Result": _text(_get(r, "Result")),
        "AccountConfirmed": _get(r, "AccountConfirmed"),
        "Differences": [
            {name: _text(_get(d, name)) for name in ("Field", "Label", "MisValue", "EsiaValue")}
            for d in (differences or [])
        ],
        "AllowedActions": None if actions is None else [_text(a) for a in actions],
        "Message": _text(_get(r, "Message")),
    }


def _password_answer(r: Any) -> Step:
    return {name: _text(_get(r, name)) for name in ("Login", "TemporaryPassword", "Message")}


def _update_answer(r: Any) -> Step:
    if isinstance(r, str):
        # zeep unwraps twice: UpdatePatientResponse has one child, UpdatePatientResult has one
        # child (Message), so service.UpdatePatient() returns the Message string itself.
        return {"Message": r}
    return {"Message": _text(_get(r, "Message"))}


def _run_flow(
    call: Callable[[str, dict[str, Any]], Any],
    fault_of: Callable[[BaseException], dict[str, Any] | None],
    flow: dict[str, Any],
) -> dict[str, Step]:
    steps: dict[str, Step] = {}

    def step(name: str, operation: str, patient: dict[str, Any], shape: Callable[[Any], Step]) -> None:
        try:
            steps[name] = shape(call(operation, patient))
        except Exception as exc:  # a SOAP Fault is an answer; anything else propagates
            fault = fault_of(exc)
            if fault is None:
                raise
            steps[name] = {"fault": fault}

    patient = dict(flow["patient"])
    without_phone = {k: v for k, v in patient.items() if k != "MobilePhone"}
    step("check_new", "CheckPatient", patient, _check_answer)
    step("check_bad_snils", "CheckPatient", {**patient, "Snils": flow["badSnils"]}, _check_answer)
    step("register_without_phone", "RegisterPatient", without_phone, _password_answer)
    step("register", "RegisterPatient", patient, _password_answer)
    patient["MobilePhone"] = flow["changedMobilePhone"]
    step("check_changed", "CheckPatient", patient, _check_answer)
    step("update", "UpdatePatient", patient, _update_answer)
    step("check_updated", "CheckPatient", patient, _check_answer)
    step("reset", "ResetPassword", patient, _password_answer)
    return steps


def run_zeep(wsdl: str, flow: dict[str, Any]) -> dict[str, Any]:
    import zeep
    from zeep.exceptions import Fault
    from zeep.transports import Transport

    client = zeep.Client(wsdl, transport=Transport(timeout=20, operation_timeout=20))

    def fault_of(exc: BaseException) -> dict[str, Any] | None:
        return {"code": exc.code, "string": exc.message} if isinstance(exc, Fault) else None

    steps = _run_flow(lambda op, patient: getattr(client.service, op)(Patient=patient), fault_of, flow)
    return {"client": f"zeep {zeep.__version__}", "steps": steps}


def run_suds(wsdl: str, flow: dict[str, Any]) -> dict[str, Any]:
    import suds
    from suds import WebFault
    from suds.client import Client

    client = Client(wsdl, cache=None, timeout=20)

    def fault_of(exc: BaseException) -> dict[str, Any] | None:
        if not isinstance(exc, WebFault):
            return None
        return {"code": str(exc.fault.faultcode), "string": str(exc.fault.faultstring)}

    steps = _run_flow(lambda op, patient: getattr(client.service, op)(Patient=patient), fault_of, flow)
    return {"client": f"suds-community {suds.__version__}", "steps": steps}


# --- subprocess clients ---------------------------------------------------------------------


def _run_script(argv: list[str], flow: dict[str, Any]) -> dict[str, Any]:
    completed = subprocess.run(
        argv, input=json.dumps(flow, ensure_ascii=False), capture_output=True, text=True,
        encoding="utf-8", timeout=SUBPROCESS_TIMEOUT, cwd=ROOT,
    )
    if completed.returncode != 0:
        pytest.fail(
            f"{' '.join(argv[:2])} exited with {completed.returncode}\n"
            f"stderr:\n{completed.stderr[-4000:]}\nstdout:\n{completed.stdout[-4000:]}"
        )
    try:
        result: dict[str, Any] = json.loads(completed.stdout)
    except ValueError:
        pytest.fail(
            f"{' '.join(argv[:2])} did not print JSON:\n{completed.stdout[-4000:]}\n"
            f"{completed.stderr[-2000:]}"
        )
    return result


def run_php(wsdl: str, flow: dict[str, Any]) -> dict[str, Any]:
    php = shutil.which("php")
    if php is None:
        pytest.fail(f"php is not installed: apt-get install -y php-cli php-soap ({HOW_TO_INSTALL})")
    modules = subprocess.run([php, "-m"], capture_output=True, text=True, timeout=30).stdout.split()
    if "soap" not in modules:
        pytest.fail(f"php has no soap extension: apt-get install -y php-soap ({HOW_TO_INSTALL})")
    return _run_script([php, str(PHP_SCRIPT), wsdl], flow)


def run_node(wsdl: str, flow: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not installed: Node.js >= 20.19 with npm is required ({HOW_TO_INSTALL})")
    if not (NODE_DIR / "node_modules" / "soap" / "package.json").is_file():
        pytest.fail(
            f"{NODE_DIR.relative_to(ROOT)}/node_modules is missing the soap package: "
            f"npm ci --prefix tests/interop/node ({HOW_TO_INSTALL})"
        )
    return _run_script([node, str(NODE_SCRIPT), wsdl], flow)


def _mono_tools() -> dict[str, str]:
    tools = {name: shutil.which(name) for name in ("wsdl", "mcs", "mono")}
    missing = [name for name, path in tools.items() if path is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: apt-get install -y mono-devel ({HOW_TO_INSTALL})")
    return {name: str(path) for name, path in tools.items()}


def mono_proxy(wsdl: str, out: Path) -> str:
    """The C# client Mono's ``wsdl`` tool (ASMX wsdl.exe) generates from a WSDL URL or file."""
    completed = subprocess.run([_mono_tools()["wsdl"], "-nologo", f"-out:{out}", wsdl],
                               capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    if completed.returncode != 0 or not out.is_file():
        pytest.fail(f"wsdl could not consume {wsdl}:\n{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}")
    return out.read_text(encoding="utf-8")


def run_mono(wsdl: str, flow: dict[str, Any]) -> dict[str, Any]:
    """A .NET МИС: the proxy generated from the served WSDL, compiled with mcs with the story."""
    tools = _mono_tools()
    with tempfile.TemporaryDirectory(prefix="mono-client-") as work:
        proxy, program = Path(work) / "EsiaAccounts.cs", Path(work) / "story.exe"
        mono_proxy(wsdl, proxy)
        completed = subprocess.run(
            [tools["mcs"], f"-out:{program}", "-r:System.Web.Services", "-r:System.Web.Extensions",
             str(proxy), str(DOTNET_STORY)],
            capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT,
        )
        if completed.returncode != 0:
            pytest.fail(f"mcs could not compile the generated client with the story:\n{completed.stdout[-4000:]}")
        return _run_script([tools["mono"], str(program), wsdl.split("?", 1)[0]], flow)


CLIENTS: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
    "zeep": run_zeep,
    "suds": run_suds,
    "php-soapclient": run_php,
    "node-soap": run_node,
    "mono-wsdl": run_mono,
}
# The clients whose requests tests/interop/recorded/ holds as they were sent with the contract whose
# parts were named after their elements (the .NET client came with the parts named "parameters").
RECORDED_CLIENTS = ("zeep", "suds", "php-soapclient", "node-soap")


# --- judging one client's run ---------------------------------------------------------------


class FlowJudge:
    def __init__(self, name: str, flow: dict[str, Any], result: dict[str, Any]) -> None:
        self.name = name
        self.flow = flow
        self.result = result
        self.steps: dict[str, Step] = result.get("steps", {})

    def where(self, step: str) -> str:
        text = f"[{self.result.get('client', self.name)}] step {step}: got {self.steps.get(step)!r}"
        exchange = self.result.get("exchanges", {}).get(step)
        if exchange:
            text += f"\n  request:  {exchange.get('request')}\n  response: {exchange.get('response')}"
        return text

    def answer(self, step: str) -> Step:
        got = self.steps.get(step)
        assert isinstance(got, dict), self.where(step)
        assert "fault" not in got and "error" not in got and "unexpected" not in got, self.where(step)
        return got

    def check(self, step: str, outcome: str, actions: list[str], differences: list[str]) -> Step:
        got = self.answer(step)
        assert got["Result"] == outcome, self.where(step)
        assert got["AllowedActions"] == actions, self.where(step)
        assert [d["Field"] for d in got["Differences"]] == differences, self.where(step)
        assert isinstance(got["Message"], str) and got["Message"].strip(), self.where(step)
        if outcome == "NOT_FOUND":
            assert got["AccountConfirmed"] is None, self.where(step)
        else:  # a real xs:boolean, not the string "true"
            assert got["AccountConfirmed"] in (True, False), self.where(step)
            assert type(got["AccountConfirmed"]) is bool, self.where(step)
        return got

    def password_sent_by_sms(self, step: str) -> None:
        """Login = SNILS; no password in the answer (ЕСИА sent it to the phone), and the Message says so."""
        got = self.answer(step)
        assert got["Login"] == self.flow["patient"]["Snils"], self.where(step)
        # The bridge sends the element, empty (the contract is unchanged: minOccurs 1); zeep and suds
        # read an empty string element as None, PHP, node-soap and Mono as "" (tests/interop/README.md).
        assert got["TemporaryPassword"] == EMPTY_ELEMENT_READ_AS.get(self.name, ""), self.where(step)
        assert isinstance(got["Message"], str) and SMS_SENT in got["Message"], self.where(step)

    def client_fault(self, step: str, field: str) -> None:
        got = self.steps.get(step)
        assert isinstance(got, dict) and "fault" in got, f"expected a SOAP Fault; {self.where(step)}"
        code, string = got["fault"]["code"], got["fault"]["string"]
        # the code is a QName (soap11env:Client.InvalidField); clients hand the prefix through as is
        assert isinstance(code, str) and code.rsplit(":", 1)[-1] == "Client.InvalidField", self.where(step)
        assert isinstance(string, str) and field in string, self.where(step)

    def judge(self) -> None:
        changed = self.flow["changedMobilePhone"]
        self.check("check_new", "NOT_FOUND", ["REGISTER"], [])
        self.client_fault("check_bad_snils", "Snils")
        self.client_fault("register_without_phone", "MobilePhone")
        self.password_sent_by_sms("register")
        mismatch = self.check("check_changed", "MISMATCH", ["UPDATE"], ["MobilePhone"])
        difference = mismatch["Differences"][0]
        where = self.where("check_changed")
        assert difference["MisValue"] == changed, where
        assert difference["EsiaValue"] == NOT_TOLD, where
        assert isinstance(difference["Label"], str) and difference["Label"].strip(), where
        updated = self.answer("update")
        assert isinstance(updated["Message"], str) and updated["Message"].strip(), self.where("update")
        self.check("check_updated", "MATCH", ["RESET_PASSWORD"], [])
        self.password_sent_by_sms("reset")
        expected = {"check_new", "check_bad_snils", "register_without_phone", "register",
                    "check_changed", "update", "check_updated", "reset"}
        assert set(self.steps) == expected, f"[{self.name}] steps run: {sorted(self.steps)}"


# --- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("client", list(CLIENTS))
def test_whole_flow_through_foreign_client(bridge: BridgeProcess, client: str) -> None:
    flow = flow_input()
    result = CLIENTS[client](bridge.wsdl_url(SERVICE), flow)
    FlowJudge(client, flow, result).judge()


def test_served_wsdl_is_the_frozen_file(bridge: BridgeProcess) -> None:
    """What the clients above consumed is wsdl/esia-accounts.wsdl, only soap:address differs."""
    response = httpx.get(bridge.wsdl_url(SERVICE), timeout=10)
    assert response.status_code == 200
    address = "//*[local-name()='address' and namespace-uri()='http://schemas.xmlsoap.org/wsdl/soap/']"
    frozen = etree.fromstring(WSDL_FILE.read_bytes())
    served = etree.fromstring(response.content)
    [frozen_address], [served_address] = frozen.xpath(address), served.xpath(address)
    assert served_address.get("location") == f"{bridge.url}/soap/{SERVICE}"
    served_address.set("location", frozen_address.get("location"))
    assert etree.tostring(served, method="c14n") == etree.tostring(frozen, method="c14n")


# The signatures .NET's tools generate. wsdl.exe (and svcutil) unwrap a document/literal operation
# into its parameters only when the message part is named "parameters", as WCF and ASMX services
# name it; else the МИС developer gets CheckPatientResponse CheckPatient(CheckPatient).
UNWRAPPED = {
    "CheckPatient": "public CheckPatientResult CheckPatient(Patient Patient)",
    "RegisterPatient": "public TemporaryPasswordResult RegisterPatient(Patient Patient)",
    "UpdatePatient": "public UpdatePatientResult UpdatePatient(Patient Patient)",
    "ResetPassword": "public TemporaryPasswordResult ResetPassword(Patient Patient)",
}


def test_dotnet_client_signatures_are_unwrapped(bridge: BridgeProcess, tmp_path: Path) -> None:
    source = mono_proxy(bridge.wsdl_url(SERVICE), tmp_path / "EsiaAccounts.cs")
    for operation, signature in UNWRAPPED.items():
        assert signature in source, f"{operation}: {signature!r} not generated"
        assert f"{operation}({operation} " not in source


def test_parts_named_after_elements_give_wrapped_signatures(tmp_path: Path) -> None:
    """The same tool on the contract as it was (parts named after their elements): the test above can fail."""
    tree = etree.fromstring(WSDL_FILE.read_bytes())
    wsdl_ns = "{http://schemas.xmlsoap.org/wsdl/}"
    for part in tree.iter(f"{wsdl_ns}part"):
        part.set("name", str(part.get("element")).split(":")[-1])
    old = tmp_path / "old.wsdl"
    old.write_bytes(etree.tostring(tree, xml_declaration=True, encoding="UTF-8"))
    source = mono_proxy(str(old), tmp_path / "Old.cs")
    assert "public CheckPatientResult CheckPatient(Patient Patient)" not in source
    assert "public CheckPatientResponse CheckPatient(" in source
