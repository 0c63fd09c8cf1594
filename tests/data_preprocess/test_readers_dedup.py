"""Streaming readers, answer extraction, deduplication and the seeded split."""

import json

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_preprocess.answers import gsm8k_final_answer, last_boxed_content
from data_preprocess.dedup import SeenDigests, assign_split, normalize_text, row_hashes
from data_preprocess.readers import InputError, iter_json_values, iter_records, list_row_files
from data_preprocess.validation import RowError

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
json_objects = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.one_of(json_scalars, st.lists(json_scalars, max_size=4), st.dictionaries(st.text(max_size=5), json_scalars, max_size=3)),
    max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(json_objects, max_size=12), chunk=st.integers(1, 64), as_array=st.booleans())
def test_streaming_json_decoder_matches_json_load(tmp_path_factory, rows, chunk, as_array):
    path = tmp_path_factory.mktemp("json") / "rows.json"
    if as_array:
        path.write_text(json.dumps(rows, indent=1))
    else:
        path.write_text("\n".join(json.dumps(row) for row in rows))
    decoded = [record.data for record in iter_json_values(str(path), chunk_chars=chunk)]
    assert decoded == rows


def test_truncated_json_array_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[{"a": 1}, {"a": 2')
    with pytest.raises(InputError, match="broken.json"):
        list(iter_json_values(str(path)))


def test_jsonl_bad_line_is_a_row_error_not_a_crash(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\n{oops\n\n{"a": 4}\n')
    records = list(iter_records([str(path)]))
    assert [r.row for r in records] == [0, 1, 2, 3]
    assert [r.data for r in records] == [{"a": 1}, None, None, {"a": 4}]
    assert "expected a JSON object" in records[1].error


def test_parquet_is_read_in_record_batches(tmp_path):
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"x": list(range(10))}), path, row_group_size=3)
    records = list(iter_records([str(path)], batch_size=4))
    assert [r.data["x"] for r in records] == list(range(10))
    assert [r.row for r in records] == list(range(10))


def test_save_to_disk_folders_resolve_to_arrow_shards(tmp_path):
    dataset_dict = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"q": ["a", "b", "c"]}),
            "test": datasets.Dataset.from_dict({"q": ["z"]}),
        }
    )
    dataset_dict.save_to_disk(str(tmp_path / "dd"))
    assert [r.data["q"] for r in iter_records([str(tmp_path / "dd")])] == ["a", "b", "c"]
    assert [r.data["q"] for r in iter_records([str(tmp_path / "dd")], split="test")] == ["z"]
    with pytest.raises(InputError, match="split 'dev'"):
        list_row_files(str(tmp_path / "dd"), "dev")
    dataset_dict["train"].save_to_disk(str(tmp_path / "single"))
    assert [r.data["q"] for r in iter_records([str(tmp_path / "single")])] == ["a", "b", "c"]


def test_last_boxed_content_handles_nested_braces():
    assert last_boxed_content(r"so \boxed{1} then \boxed{\frac{1}{2}}.") == r"\frac{1}{2}"
    assert last_boxed_content(r"\fbox{7}") == "7"
    assert last_boxed_content("no box") is None
    assert last_boxed_content(r"\boxed{unclosed") is None


def test_gsm8k_final_answer_strips_thousands_separators():
    assert gsm8k_final_answer("She pays 2*600 = <<2*600=1200>>1200.\n#### 1,200") == "1200"
    with pytest.raises(RowError) as error:
        gsm8k_final_answer("no marker")
    assert error.value.reason == "missing_field"


def test_normalize_text_ignores_case_width_and_spacing():
    assert normalize_text("  What IS\n 2+2?  ") == normalize_text("what is 2+2?")
    assert normalize_text("ＡＢＣ") == "abc"
    assert normalize_text("2+2") != normalize_text("2+3")


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.integers(0, 2**64 - 1), max_size=200), merge_every=st.integers(1, 16))
def test_seen_digests_behaves_like_a_set(values, merge_every):
    seen, reference = SeenDigests(merge_every=merge_every), set()
    for value in values:
        assert seen.add(value) == (value not in reference)
        reference.add(value)
        assert value in seen
    assert len(seen) == len(reference)


def test_split_is_seeded_and_close_to_the_fraction():
    keys = [f"row {i}".encode() for i in range(4000)]

    def val_set(seed):
        return {k for k in keys if assign_split(row_hashes(k, seed)[1], 0.25) == "val"}

    assert val_set(3) == val_set(3)
    assert val_set(3) != val_set(4)
    assert 850 < len(val_set(3)) < 1150
    assert assign_split(0.0, 0.0) == "train"
