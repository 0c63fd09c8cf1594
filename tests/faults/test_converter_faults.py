"""Converter faults: one bad row costs that row only; a bad file, path or output stops the run at once,
names the file, leaves no ``*.tmp`` and still writes the report; exit status 2 whenever the output is unusable."""

import base64
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_preprocess import geometry3k, mmrl, textrl
from data_preprocess.pipeline import BuiltRow, ConvertOptions, run_conversion
from data_preprocess.rl_builder import RLRowBuilder
from data_preprocess.sources import get_rl_source
from data_preprocess.writer import OutputError

GOOD = [{"problem": "What is 1+1?", "answer": "2"}, {"problem": "What is 2+3?", "answer": "5"}]


def write_jsonl(path, rows):
    path.write_bytes(b"".join(row if isinstance(row, bytes) else json.dumps(row).encode() + b"\n" for row in rows))
    return path


def leftovers(folder, name):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(name))


def bad_rows(report):
    return [(b["file"].rsplit("/", 1)[-1], b["row"], b["reason"], b["field"]) for b in report["bad_rows"]]


def test_a_line_that_is_not_utf8_is_one_unreadable_row(tmp_path, convert, parquet_rows, read_json):
    lines = write_jsonl(tmp_path / "t.jsonl", [GOOD[0], b'{"problem": "caf\xe9 \xff", "answer": "3"}\n', GOOD[1]])
    array = tmp_path / "a.json"
    array.write_bytes(b'[{"problem": "What is 4+4?", "answer": "8"}, {"problem": "\xff\xfe", "answer": "1"}]')
    code, err = convert(textrl, "--input", lines, array, "--output", tmp_path / "o.parquet", "--report", tmp_path / "r.json")
    assert code == 0, err
    assert [r["extra_info"]["question"] for r in parquet_rows(tmp_path / "o.parquet")] == [
        "What is 1+1?", "What is 2+3?", "What is 4+4?"]
    report = read_json(tmp_path / "r.json")
    assert bad_rows(report) == [("t.jsonl", 1, "unreadable_row", "<row>"), ("a.json", 1, "unreadable_row", "<row>")]
    assert "not UTF-8" in report["bad_rows"][0]["message"] and "0xe9" in report["bad_rows"][0]["message"]


@pytest.mark.parametrize("module", [mmrl, geometry3k])
def test_base64_image_bytes_are_decoded_or_reported_per_row(tmp_path, convert, parquet_rows, read_json, png, module):
    image = png(28, 56)
    encoded = base64.b64encode(image).decode()
    rows = [
        {"problem": "<image>Base64 bytes", "answer": "1", "images": [{"bytes": encoded, "path": None}]},
        {"problem": "<image>Valid base64, not an image", "answer": "2", "images": [{"bytes": "AAAA"}]},
        {"problem": "<image>Not base64", "answer": "3", "images": [{"bytes": "*** not base64 ***"}]},
        {"problem": "<image>A data URI", "answer": "4", "images": ["data:image/png;base64," + encoded[:-8] + "\n" + encoded[-8:]]},
    ]
    write_jsonl(tmp_path / "in.jsonl", rows)
    code, err = convert(module, "--input", tmp_path / "in.jsonl", "--output", tmp_path / "o.parquet", "--report", tmp_path / "r.json")
    assert code == 0, err
    kept = parquet_rows(tmp_path / "o.parquet")
    assert [r["reward_model"]["ground_truth"] for r in kept] == ["1", "4"]
    assert all(r["images"][0]["bytes"] == image for r in kept)
    report = read_json(tmp_path / "r.json")
    assert bad_rows(report) == [("in.jsonl", 1, "corrupt_image", "images[0]"), ("in.jsonl", 2, "bad_value", "images[0]")]
    assert "not base64" in report["bad_rows"][1]["message"]


def truncated_parquet(path):
    pq.write_table(pa.Table.from_pylist(GOOD), path)
    path.write_bytes(path.read_bytes()[:40])


@pytest.mark.parametrize("case", ["truncated parquet", "empty parquet", "missing input"])
def test_an_unreadable_input_names_the_file_and_leaves_no_tmp(tmp_path, convert, read_json, case):
    source = tmp_path / "in.parquet"
    if case == "truncated parquet":
        truncated_parquet(source)
    elif case == "empty parquet":
        source.write_bytes(b"")
    code, err = convert(textrl, "--input", source, "--output", tmp_path / "out.parquet", "--report", tmp_path / "r.json")
    assert code == 2
    assert err.startswith(f"error: {source}: ")
    assert leftovers(tmp_path, "out") == []
    assert str(source) in read_json(tmp_path / "r.json")["error"]


def unwritable(tmp_path, kind, name):
    """A path that cannot be written even by root (its folder is a file, or it is a folder itself), or a
    path in a folder without write permission."""
    if kind == "folder is a file":
        (tmp_path / "blocker").write_text("a file where a folder should be")
        return tmp_path / "blocker" / name
    if kind == "path is a folder":
        (tmp_path / name).mkdir()
        return tmp_path / name
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    return folder / name


@pytest.mark.parametrize("kind", [
    "folder is a file",
    "path is a folder",
    pytest.param("read-only folder", marks=pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")),
])
@pytest.mark.parametrize("target", ["output", "report"])
def test_an_unwritable_output_or_report_is_error_file_exit_2(tmp_path, convert, kind, target):
    write_jsonl(tmp_path / "in.jsonl", GOOD)
    output, report = tmp_path / "out.parquet", tmp_path / "r.json"
    if target == "output":
        output = unwritable(tmp_path, kind, "out.parquet")
    else:
        report = unwritable(tmp_path, kind, "r.json")
    code, err = convert(textrl, "--input", tmp_path / "in.jsonl", "--output", output, "--report", report)
    assert code == 2
    bad = output if target == "output" else report
    assert err.startswith(f"error: {bad}: cannot ") and "Traceback" not in err
    assert not output.is_file() and not os.path.exists(f"{output}.tmp")
    assert (tmp_path / "in.jsonl").exists()


def test_the_report_is_written_before_the_output_is_moved_into_place(tmp_path):
    """The report's folder turns into a file during the run: the report fails, so no output appears."""
    write_jsonl(tmp_path / "in.jsonl", GOOD)
    (tmp_path / "reports").mkdir()
    options = ConvertOptions(inputs=[str(tmp_path / "in.jsonl")], output=str(tmp_path / "out.parquet"),
                             report=str(tmp_path / "reports" / "r.json"), progress=False)
    builder = RLRowBuilder(get_rl_source("textrl"), options)
    build = builder.build

    def build_then_break_the_report_folder(record):
        if (tmp_path / "reports").is_dir():
            (tmp_path / "reports").rmdir()
            (tmp_path / "reports").write_text("not a folder any more")
        return build(record)

    builder.build = build_then_break_the_report_folder
    with pytest.raises(OutputError, match="r.json: cannot write the report"):
        run_conversion(builder, options)
    assert leftovers(tmp_path, "out") == []


def test_a_run_that_keeps_no_row_exits_2_and_writes_no_output(tmp_path, convert, read_json):
    write_jsonl(tmp_path / "in.jsonl", [{"problem": "no answer"}, {"problem": "", "answer": "1"}])
    code, err = convert(textrl, "--input", tmp_path / "in.jsonl", "--output", tmp_path / "out.parquet",
                        "--report", tmp_path / "r.json")
    assert code == 2
    assert "error: no row kept" in err and "missing_field=1" in err and str(tmp_path / "r.json") in err
    assert leftovers(tmp_path, "out") == []
    report = read_json(tmp_path / "r.json")
    assert report["rows_read"] == 2 and report["rows_dropped"] == 2 and "no row kept" in report["error"]


def test_output_equal_to_input_is_refused_and_the_input_kept(tmp_path, convert, monkeypatch):
    source = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pylist(GOOD), source)
    before = source.read_bytes()
    monkeypatch.chdir(tmp_path)
    code, err = convert(textrl, "--input", tmp_path, "--output", "./data.parquet")
    assert code == 2
    assert err == "error: --output ./data.parquet is also an input; write the output to another path\n"
    assert source.read_bytes() == before and leftovers(tmp_path, "data.parquet") == ["data.parquet"]


def test_a_corrupt_image_file_is_named_by_its_path(tmp_path, convert, read_json, png):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "good.png").write_bytes(png())
    broken = png(56, 56)
    (tmp_path / "imgs" / "cut.png").write_bytes(broken[: len(broken) // 2])
    write_jsonl(tmp_path / "in.jsonl", [{"problem": "<image>ok", "answer": "1", "images": ["imgs/good.png"]},
                                        {"problem": "<image>cut", "answer": "2", "images": ["imgs/cut.png"]}])
    code, err = convert(mmrl, "--input", tmp_path / "in.jsonl", "--output", tmp_path / "o.parquet", "--report", tmp_path / "r.json")
    assert code == 0, err
    [bad] = read_json(tmp_path / "r.json")["bad_rows"]
    assert (bad["row"], bad["reason"]) == (1, "corrupt_image")
    assert str(tmp_path / "imgs" / "cut.png") in bad["message"] and "BytesIO" not in bad["message"]


def test_an_absurdly_long_answer_is_dropped_with_a_reason(tmp_path, convert, parquet_rows, read_json):
    write_jsonl(tmp_path / "in.jsonl", [GOOD[0], {"problem": "Paste?", "answer": "x" * 5_000_000}, GOOD[1]])
    code, err = convert(textrl, "--input", tmp_path / "in.jsonl", "--output", tmp_path / "o.parquet", "--report", tmp_path / "r.json")
    assert code == 0, err
    assert [r["reward_model"]["ground_truth"] for r in parquet_rows(tmp_path / "o.parquet")] == ["2", "5"]
    [bad] = read_json(tmp_path / "r.json")["bad_rows"]
    assert (bad["row"], bad["reason"], bad["field"]) == (1, "answer_too_long", "answer")
    assert "5,000,000 characters > 1,000" in bad["message"]


def test_an_unforeseen_error_in_one_row_costs_that_row_only(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [GOOD[0], {"problem": "trips a bug", "answer": "0"}, GOOD[1]])
    options = ConvertOptions(inputs=[str(tmp_path / "in.jsonl")], output=str(tmp_path / "o.parquet"), progress=False)
    builder = RLRowBuilder(get_rl_source("textrl"), options)
    build = builder.build

    def build_with_a_bug(record) -> BuiltRow:
        if record.data["problem"] == "trips a bug":
            return len(None)
        return build(record)

    builder.build = build_with_a_bug
    report = run_conversion(builder, options).to_dict()
    assert report["rows_written"] == {"train": 2}
    [bad] = report["bad_rows"]
    assert (bad["row"], bad["reason"]) == (1, "bad_value") and bad["message"].startswith("unexpected TypeError")
