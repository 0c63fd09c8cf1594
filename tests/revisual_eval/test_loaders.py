"""Reading each benchmark's release layout, and clear errors on bad input."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from revisual_eval.loaders import LOADERS, LoadOptions, limit_items
from revisual_eval.errors import EvalDataError
from revisual_eval.fixtures import hf_image, write_fixture_data
from revisual_eval.generate import GenerateConfig, generate
from revisual_eval.layouts import benchmark_dir
from revisual_eval.paper import BENCHMARKS


@pytest.fixture
def data_root(tmp_path):
    return write_fixture_data(tmp_path / "data")


def load(root, name, **options):
    return LOADERS[name](benchmark_dir(root, name), LoadOptions(**options))


def test_every_fixture_loads_with_native_ids(data_root):
    ids = {name: [item.id for item in load(data_root, name)] for name in BENCHMARKS}
    assert ids["mathverse"] == ["1", "2", "3"]
    assert ids["mathvision"] == ["1", "2", "3"]
    assert ids["mathvista"] == ["1", "2"]
    assert ids["dynamath"] == ["sample_variant1/1", "sample_variant1/2", "sample_variant2/1", "sample_variant2/2"]
    assert ids["wemath"][:3] == ["2steps_1/2steps_1", "2steps_1/2steps_2", "2steps_1/2steps_multi"]
    assert ids["logicvista"] == ["v1_0", "v1_1", "v1_3"]  # v1_2 is empty, as v1_382 in the release
    assert ids["aime24"] == ["61", "62"]
    assert ids["aime25"] == ["aime2025-I/0", "aime2025-II/0"]
    assert ids["gpqa_diamond"] == ["rec0", "rec1"]
    assert ids["math500"] == ["test/algebra/1.json", "test/precalculus/807.json"]
    assert ids["mmmu"] == ["validation_Accounting_1", "validation_Accounting_2", "validation_Math_1"]


def test_mmmu_items_carry_options_images_and_the_official_prompt(data_root):
    first, open_question, two_images = load(data_root, "mmmu")
    assert first.reference == {"answer": "B", "question_type": "multiple-choice", "choices": ["red", "white", "blue"]}
    assert first.prompt.endswith("A. red\nB. white\nC. blue\n\nAnswer with the option's letter from the given choices directly.")
    assert open_question.prompt.endswith("\n\nAnswer the question using a single word or phrase.")
    assert (len(first.images), len(two_images.images)) == (1, 2)


def test_references_carry_what_scoring_needs(data_root):
    mathverse = {item.id: item for item in load(data_root, "mathverse")}
    assert mathverse["1"].reference["choices"] == ["40°", "60°", "80°"]
    assert mathverse["1"].prompt.startswith("Please first conduct reasoning")  # query_cot
    assert isinstance(mathverse["1"].images[0], bytes)
    vision = {item.id: item for item in load(data_root, "mathvision")}
    assert vision["1"].prompt.endswith("Choices:\nA: circle\nB: box\nC: star")
    assert vision["3"].reference["choices"] == []  # options are only the letters A-E
    assert vision["2"].prompt == "Question: <image1>\nHow many boxes?"
    quirk = {item.id: item for item in load(data_root, "mathvision", mathvision_empty_choices=True)}
    assert quirk["2"].prompt.endswith("Choices:\n")
    wemath = load(data_root, "wemath")[0]
    assert wemath.reference["choices"] == ["1", "2", "3", "4", "No correct answer"]
    assert wemath.prompt.endswith("A. 1;B. 2;C. 3;D. 4;E. No correct answer")
    dyna = load(data_root, "dynamath")[1]
    assert dyna.reference["choices"] == ["yes", "no"] and dyna.reference["seed_id"] == "2"
    logic = load(data_root, "logicvista")[1]
    assert logic.images[0].name == "1.png" and logic.reference["answer"] == "B, D"


def test_gpqa_shuffle_is_seeded_and_recorded(data_root):
    first = load(data_root, "gpqa_diamond")
    again = load(data_root, "gpqa_diamond")
    assert [i.reference for i in first] == [i.reference for i in again]
    for item in first:
        gold_text = item.reference["choices"]["ABCD".index(item.reference["answer"])]
        assert gold_text in ("argon", "negative")
        assert f"({item.reference['answer']}) {gold_text}" in item.prompt
    orders = {tuple(load(data_root, "gpqa_diamond", gpqa_seed=s)[0].reference["choices"]) for s in range(8)}
    assert len(orders) > 1


def test_limit_keeps_groups_whole(data_root):
    dyna = limit_items(load(data_root, "dynamath"), 1)
    assert [i.id for i in dyna] == ["sample_variant1/1", "sample_variant2/1"]
    wemath = limit_items(load(data_root, "wemath"), 1)
    assert [i.id.split("/")[0] for i in wemath] == ["2steps_1"] * 3


def test_missing_folder_and_unknown_layout(tmp_path):
    (tmp_path / "mathvista").mkdir()
    (tmp_path / "mathvista" / "something.csv").write_text("x\n")
    with pytest.raises(EvalDataError, match="unknown layout.*data/testmini-\\*.parquet") as info:
        load(tmp_path, "mathvista")
    assert info.value.path.endswith("mathvista")
    with pytest.raises(EvalDataError, match="no folder named"):
        benchmark_dir(tmp_path, "dynamath")


def test_bad_row_names_file_row_and_field(data_root):
    path = data_root / "mathvista" / "data" / "testmini-00000-of-00001.parquet"
    rows = pq.read_table(path).to_pylist()
    rows[1]["choices"] = None
    rows[1]["precision"] = "one"
    pq.write_table(pa.Table.from_pylist(rows), path)
    with pytest.raises(EvalDataError) as info:
        load(data_root, "mathvista")
    assert (info.value.path, info.value.row, info.value.field) == (str(path), 1, "precision")
    assert f"{path}, row 1, field 'precision'" in str(info.value)

    jsonl = data_root / "math500" / "test.jsonl"
    jsonl.write_text(jsonl.read_text() + json.dumps({"problem": "p", "unique_id": "u"}) + "\n")
    with pytest.raises(EvalDataError, match=r"test.jsonl, row 2, field 'answer': missing"):
        load(data_root, "math500")

    images = data_root / "logicvista" / "data" / "images" / "3.png"
    images.unlink()
    with pytest.raises(EvalDataError, match=r"dataset.json, row v1_3, field 'imagename'.*does not exist"):
        load(data_root, "logicvista")


def test_duplicate_ids_rejected(tmp_path):
    rows = [{"id": 1, "problem": "p", "answer": "1"}, {"id": 1, "problem": "q", "answer": "2"}]
    path = tmp_path / "aime24" / "data" / "train-00000-of-00001.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    with pytest.raises(EvalDataError, match="duplicate id '1'"):
        load(tmp_path, "aime24")


def test_parquet_image_without_bytes_or_path(tmp_path):
    row = {"sample_index": "1", "problem_index": "1", "problem_version": "Text Lite", "question": "q", "answer": "1",
           "question_type": "free-form", "query_cot": "q", "image": {"bytes": None, "path": None}}
    path = tmp_path / "mathverse" / "testmini.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([row, {**row, "sample_index": "2", "image": hf_image(1, "x.png")}]), path)
    with pytest.raises(EvalDataError, match="row 0, field 'image': image struct has neither bytes nor path"):
        load(tmp_path, "mathverse")


def test_generate_skips_broken_benchmarks_and_runs_the_rest(data_root, tmp_path):
    (data_root / "math500" / "test.jsonl").write_text('{"problem": "p", "answer": "1"}\n')  # no unique_id
    cfg = GenerateConfig(model="none", data_root=data_root, out=tmp_path / "run", benchmarks=["math500", "aime25", "mathvision"], backend="echo")
    progress = generate(cfg, log=lambda message: None)
    assert "row 0, field 'unique_id': missing" in progress["math500"].error
    assert progress["aime25"].generated == 2 * 8 and progress["mathvision"].generated == 3
    assert not (tmp_path / "run" / "math500.jsonl").exists()
