"""bridge.yamlfile: data, line numbers, and file:line errors."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bridge.yamlfile import YamlDocument, YamlFileError, load_yaml, parse_yaml

DOC = """\
# comment
name: bridge
listen:
  host: 127.0.0.1
  port: 8080
upstreams:
  - name: esia
    url: https://esia.example
  - name: egisz

    url: https://egisz.example
empty:
"""


def write(tmp_path: Path, text: str, name: str = "f.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_data_is_plain_python(tmp_path: Path) -> None:
    doc = load_yaml(write(tmp_path, DOC))
    assert isinstance(doc, YamlDocument)
    assert doc.data == {
        "name": "bridge",
        "listen": {"host": "127.0.0.1", "port": 8080},
        "upstreams": [
            {"name": "esia", "url": "https://esia.example"},
            {"name": "egisz", "url": "https://egisz.example"},
        ],
        "empty": None,
    }
    assert type(doc.data) is dict
    assert doc.file == str(tmp_path / "f.yaml")


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ((), 2),
        (("name",), 2),
        (("listen",), 3),
        (("listen", "port"), 5),
        (("upstreams",), 6),
        (("upstreams", 0), 7),
        (("upstreams", 0, "url"), 8),
        (("upstreams", 1), 9),
        (("upstreams", 1, "url"), 11),
        (("empty",), 12),
    ],
)
def test_line_of(path: tuple[str | int, ...], line: int) -> None:
    assert parse_yaml(DOC).line_of(path) == line


def test_line_of_unknown_path_is_none() -> None:
    doc = parse_yaml(DOC)
    assert doc.line_of(("listen", "nope")) is None
    assert doc.line_of(("upstreams", 5)) is None
    assert doc.nearest_line(("upstreams", 1, "timeout")) == 9


def test_flow_style_lines() -> None:
    doc = parse_yaml('a: 1\ntable: {"1": M,\n  "2": F}\n')
    assert doc.data == {"a": 1, "table": {"1": "M", "2": "F"}}
    assert doc.line_of(("table", "1")) == 2
    assert doc.line_of(("table", "2")) == 3


def test_non_string_keys_are_indexed_by_their_value() -> None:
    doc = parse_yaml("codes:\n  1: one\n  2: two\n")
    assert doc.data == {"codes": {1: "one", 2: "two"}}
    assert doc.line_of(("codes", 2)) == 3


def test_safe_loader_only() -> None:
    with pytest.raises(YamlFileError) as err:
        parse_yaml("x: !!python/object/apply:os.system ['echo hi']\n", file="evil.yaml")
    assert err.value.file == "evil.yaml"
    assert err.value.line == 1


def test_standard_scalars_still_resolve() -> None:
    assert parse_yaml("d: 1979-08-17\nb: true\nf: 1.5\n").data == {
        "d": dt.date(1979, 8, 17),
        "b": True,
        "f": 1.5,
    }


def test_syntax_error_has_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(YamlFileError) as err:
        load_yaml(path)
    assert isinstance(err.value, ValueError)
    assert err.value.file == str(path)
    assert err.value.line == 3
    assert str(err.value).startswith(f"{path}:3: ")


def test_bad_indentation_line() -> None:
    with pytest.raises(YamlFileError) as err:
        parse_yaml("a:\n  b: 1\n c: 2\n", file="x.yaml")
    assert err.value.line == 3
    assert str(err.value).startswith("x.yaml:3: ")


def test_syntax_error_message_does_not_quote_the_source() -> None:
    with pytest.raises(YamlFileError) as err:
        parse_yaml('snils: "05462367360\nname: x: y\n', file="x.yaml")
    assert "05462367360" not in str(err.value)


def test_duplicate_key_is_an_error_with_both_lines() -> None:
    with pytest.raises(YamlFileError) as err:
        parse_yaml("a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\n", file="dup.yaml")
    assert err.value.line == 5
    assert "duplicate key 'c'" in str(err.value)
    assert "line 3" in str(err.value)
    assert str(err.value).startswith("dup.yaml:5: ")


def test_duplicate_key_in_list_item() -> None:
    with pytest.raises(YamlFileError) as err:
        parse_yaml("fields:\n  - mis: A\n    mis: B\n")
    assert err.value.line == 3


def test_equal_keys_in_different_mappings_are_fine() -> None:
    doc = parse_yaml("- name: a\n- name: b\n")
    assert doc.data == [{"name": "a"}, {"name": "b"}]


def test_several_documents_rejected() -> None:
    with pytest.raises(YamlFileError) as err:
        parse_yaml("a: 1\n---\nb: 2\n")
    assert err.value.line == 2


def test_empty_file(tmp_path: Path) -> None:
    doc = load_yaml(write(tmp_path, "# nothing\n"))
    assert doc.data is None
    assert doc.line_of(()) is None


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "cp1251.yaml"
    path.write_bytes("name: Иванова\n".encode("cp1251"))
    with pytest.raises(YamlFileError) as err:
        load_yaml(path)
    assert "UTF-8" in str(err.value)


def test_missing_file_is_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_yaml(tmp_path / "nope.yaml")


def test_aliases_and_merge_keys() -> None:
    doc = parse_yaml("base: &b\n  x: 1\n  y: 2\nuse:\n  <<: *b\n  y: 3\nsame: *b\n")
    assert doc.data == {"base": {"x": 1, "y": 2}, "use": {"x": 1, "y": 3}, "same": {"x": 1, "y": 2}}
    assert doc.line_of(("use", "y")) == 6
    assert doc.line_of(("same",)) == 7


def test_alias_bomb_is_cheap() -> None:
    lines = ["a0: &a0 [x, x]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 40)]
    doc = parse_yaml("\n".join(lines) + "\n")
    assert doc.line_of(("a39",)) == 40


def test_complex_key_rejected() -> None:
    with pytest.raises(YamlFileError) as err:
        parse_yaml("? [a, b]\n: 1\n")
    assert err.value.line == 1


def test_error_pickles() -> None:
    import pickle

    err = YamlFileError("f.yaml", 3, "boom")
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == "f.yaml:3: boom"
    assert str(YamlFileError("f.yaml", None, "boom")) == "f.yaml: boom"


def test_control_character_line() -> None:
    with pytest.raises(YamlFileError) as err:
        parse_yaml("a: 1\nb: x\x07y\n", file="c.yaml")
    assert str(err.value) == "c.yaml:2: control character U+0007 is not allowed in YAML"
