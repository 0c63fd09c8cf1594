"""Every converter on fixture files of each schema it supports, the report, --strict and verl reading the output."""

import io
import json

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from data_preprocess import deepmath, geometry3k, grammar_sft, gsm8k, math, mmrl, textrl
from data_preprocess.prompt import RL_INSTRUCTION


def rows_of(path):
    return pq.read_table(path).to_pylist()


def run(module, *args):
    return module.main([*map(str, args), "--no-progress"])


def read_report(path):
    return json.loads(path.read_text())


# ---------------------------------------------------------------- multimodal RL (EasyR1 / mmrl)


@pytest.fixture
def mmrl_fixture(tmp_path, png_bytes):
    """A parquet and a jsonl in EasyR1 layout: every image form, plus one row per failure reason."""
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "disk.png").write_bytes(png_bytes(56, 28, (0, 0, 200)))
    good_bytes = png_bytes(28, 28)
    parquet_rows = [
        {"problem": "<image>Colour of the square?", "answer": "red", "images": [{"bytes": good_bytes, "path": None}]},
        {"problem": "How wide is it?", "answer": "56", "images": [{"bytes": png_bytes(56, 56), "path": None}]},
        {"problem": "<image>Broken", "answer": "x", "images": [{"bytes": b"\x89PNG not really", "path": None}]},
        {"problem": "<image><image>Two marks, one image", "answer": "x", "images": [{"bytes": good_bytes, "path": None}]},
        {"problem": "<image>No answer", "answer": None, "images": [{"bytes": good_bytes, "path": None}]},
        {"problem": "   ", "answer": "1", "images": [{"bytes": good_bytes, "path": None}]},
        {"problem": "<image>Huge", "answer": "1", "images": [{"bytes": png_bytes(300, 300), "path": None}]},
        {"problem": "<image>colour of  the SQUARE? ", "answer": "red", "images": [{"bytes": good_bytes, "path": None}]},
    ]
    parquet_path = tmp_path / "mmrl.parquet"
    pq.write_table(pa.Table.from_pylist(parquet_rows), parquet_path)
    jsonl_path = tmp_path / "mmrl.jsonl"
    with open(jsonl_path, "w") as handle:
        handle.write(json.dumps({"problem": "<image>From disk", "answer": "blue", "images": ["file_pathimgs/disk.png"]}) + "\n")
        handle.write(json.dumps({"problem": "<image>Missing file", "answer": "1", "images": ["imgs/none.png"]}) + "\n")
        handle.write(json.dumps({"question": "<image>Alias columns", "answer": 7, "image": "file://imgs/disk.png"}) + "\n")
    return tmp_path, parquet_path, jsonl_path, good_bytes


def test_mmrl_keeps_every_good_row_and_reports_each_bad_one(mmrl_fixture):
    folder, parquet_path, jsonl_path, good_bytes = mmrl_fixture
    out, report_path = folder / "out" / "mmrl.parquet", folder / "report.json"
    run(mmrl, "--input", parquet_path, jsonl_path, "--image-root", folder, "--output", out,
        "--report", report_path, "--max-pixels", 200 * 200)

    rows = rows_of(out)
    assert [r["extra_info"]["question"] for r in rows] == [
        "<image>Colour of the square?", "How wide is it?", "<image>From disk", "<image>Alias columns",
    ]
    assert [r["reward_model"]["ground_truth"] for r in rows] == ["red", "56", "blue", "7"]
    for index, row in enumerate(rows):
        content = row["prompt"][0]["content"]
        assert content.count("<image>") == len(row["images"]) == 1
        assert content.endswith(" " + RL_INSTRUCTION)
        assert row["data_source"] == "csfufu/mmrl" and row["ability"] == "math"
        assert row["extra_info"] == {**row["extra_info"], "index": index, "split": "train"}
        assert row["images"][0]["path"] is None
        Image.open(io.BytesIO(row["images"][0]["bytes"])).load()
    assert rows[0]["images"][0]["bytes"] == good_bytes
    assert rows[1]["prompt"][0]["content"].startswith("<image>How wide is it?")
    assert Image.open(io.BytesIO(rows[2]["images"][0]["bytes"])).size == (56, 28)

    report = read_report(report_path)
    assert report["rows_read"] == 11
    assert report["rows_written"] == {"train": 4}
    assert report["duplicates_removed"] == 1
    assert report["notes"] == {"placeholders_added": 1}
    assert report["dropped_by_reason"] == {
        "corrupt_image": 1, "empty_field": 1, "image_not_found": 1, "image_too_large": 1,
        "missing_field": 1, "placeholder_mismatch": 1,
    }
    where = {(b["file"].rsplit("/", 1)[-1], b["row"]): (b["reason"], b["field"]) for b in report["bad_rows"]}
    assert where == {
        ("mmrl.parquet", 2): ("corrupt_image", "images[0]"),
        ("mmrl.parquet", 3): ("placeholder_mismatch", "problem"),
        ("mmrl.parquet", 4): ("missing_field", "answer"),
        ("mmrl.parquet", 5): ("empty_field", "problem"),
        ("mmrl.parquet", 6): ("image_too_large", "images[0]"),
        ("mmrl.jsonl", 1): ("image_not_found", "images[0]"),
    }


def test_mmrl_output_loads_in_datasets_with_pil_images(mmrl_fixture):
    folder, parquet_path, _, _ = mmrl_fixture
    out = folder / "mm.parquet"
    run(mmrl, "--input", parquet_path, "--output", out)
    loaded = datasets.load_dataset("parquet", data_files=str(out))["train"]
    assert isinstance(loaded[0]["images"][0], Image.Image)
    assert loaded[0]["prompt"][0]["role"] == "user"


def test_strict_stops_at_first_bad_row_naming_file_row_and_field(mmrl_fixture, capsys):
    folder, parquet_path, _, _ = mmrl_fixture
    out = folder / "strict.parquet"
    with pytest.raises(SystemExit) as stop:
        run(mmrl, "--input", parquet_path, "--output", out, "--strict", "--report", folder / "r.json")
    assert stop.value.code == 2
    message = capsys.readouterr().err
    assert f"{parquet_path}: row 2: field 'images[0]': corrupt_image" in message
    assert not out.exists() and not (folder / "strict.parquet.tmp").exists()
    assert "row 2" in read_report(folder / "r.json")["error"]


def test_strict_passes_on_clean_input(tmp_path):
    path = tmp_path / "clean.jsonl"
    path.write_text(json.dumps({"problem": "ok", "answer": "1"}) + "\n")
    run(textrl, "--input", path, "--output", tmp_path / "o.parquet", "--strict")
    assert len(rows_of(tmp_path / "o.parquet")) == 1


# ---------------------------------------------------------------- Geometry3K (hiyouga/geometry3k save_to_disk)


def test_geometry3k_from_a_saved_datasets_folder(tmp_path):
    features = datasets.Features(
        {"images": datasets.List(datasets.Image()), "problem": datasets.Value("string"), "answer": datasets.Value("string")}
    )
    triangle = Image.new("RGB", (84, 56), (255, 255, 255))
    splits = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(
                {"images": [[triangle], [triangle]], "problem": ["<image>Find x.", "<image>Find y."], "answer": ["3", "4"]},
                features=features,
            ),
            "test": datasets.Dataset.from_dict(
                {"images": [[triangle]], "problem": ["<image>Find z."], "answer": ["5"]}, features=features
            ),
        }
    )
    splits.save_to_disk(str(tmp_path / "geometry3k"))
    run(geometry3k, "--input", tmp_path / "geometry3k", "--split", "test", "--output", tmp_path / "g.parquet")
    [row] = rows_of(tmp_path / "g.parquet")
    assert row["data_source"] == "hiyouga/geometry3k"
    assert row["prompt"][0]["content"] == "<image>Find z. " + RL_INSTRUCTION
    assert Image.open(io.BytesIO(row["images"][0]["bytes"])).size == (84, 56)


# ---------------------------------------------------------------- text RL sets


def test_textrl_json_array_with_seeded_split(tmp_path):
    rows = [{"problem": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(40)]
    rows += [{"problem": "what is 0 +   0?", "answer": "0"}, {"problem": "Where?", "answer": ""}]
    (tmp_path / "t.json").write_text(json.dumps(rows))
    outputs = {}
    for seed in (1, 1, 2):
        out = tmp_path / f"s{seed}.parquet"
        report = run(textrl, "--input", tmp_path / "t.json", "--output", out, "--val-fraction", 0.3,
                     "--seed", seed, "--report", tmp_path / "r.json").to_dict()
        assert report["rows_written"]["train"] + report["rows_written"]["val"] == 40
        assert report["duplicates_removed"] == 1 and report["dropped_by_reason"] == {"empty_field": 1}
        val = rows_of(tmp_path / f"s{seed}_val.parquet")
        assert all(r["extra_info"]["split"] == "val" for r in val)
        assert [r["extra_info"]["index"] for r in val] == list(range(len(val)))
        train_questions = {r["extra_info"]["question"] for r in rows_of(out)}
        val_questions = {r["extra_info"]["question"] for r in val}
        assert not train_questions & val_questions
        assert train_questions | val_questions == {r["problem"] for r in rows[:40]}
        outputs.setdefault(seed, []).append(val_questions)
    assert outputs[1][0] == outputs[1][1]
    assert outputs[1][0] != outputs[2][0]
    assert "images" not in pq.read_schema(tmp_path / "s1.parquet").names


def test_textrl_placeholders_without_images_are_a_mismatch(tmp_path):
    rows = [{"problem": "<image>What is shown?", "answer": "a"}, {"problem": "What is 1+1?", "answer": "2"}]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    report = run(textrl, "--input", tmp_path / "t.jsonl", "--output", tmp_path / "o.parquet").to_dict()
    assert report["dropped_by_reason"] == {"placeholder_mismatch": 1}


def test_deepmath_layout(tmp_path):
    table = pa.table(
        {
            "question": ["Evaluate the limit of x/x as x -> 0.", "Find 2^10."],
            "final_answer": ["1", "1024"],
            "difficulty": [5.0, 2.0],
            "topic": ["Calculus", "Algebra"],
            "r1_solution_1": ["<think>..</think> 1", "1024"],
            "r1_solution_2": ["", ""],
            "r1_solution_3": ["", ""],
        }
    )
    pq.write_table(table, tmp_path / "train-00000-of-00001.parquet")
    run(deepmath, "--input", tmp_path, "--output", tmp_path / "out" / "d.parquet")
    rows = rows_of(tmp_path / "out" / "d.parquet")
    assert [(r["data_source"], r["reward_model"]["ground_truth"]) for r in rows] == [
        ("zwhe99/DeepMath-103K", "1"), ("zwhe99/DeepMath-103K", "1024"),
    ]


def test_math_boxed_solutions_and_math500_answers(tmp_path):
    lighteval = [
        {"problem": "Simplify 2/4.", "level": "Level 1", "type": "Prealgebra",
         "solution": r"Divide: $\boxed{\frac{1}{2}}$."},
        {"problem": "Prove it.", "level": "Level 5", "type": "Algebra", "solution": "A proof, no box."},
    ]
    (tmp_path / "math.jsonl").write_text("\n".join(json.dumps(r) for r in lighteval))
    math500 = [{"problem": "Compute 3!", "solution": r"$\boxed{6}$", "answer": "6", "subject": "Counting",
                "level": 1, "unique_id": "test/counting/1.json"}]
    (tmp_path / "math500.json").write_text(json.dumps(math500))
    report = run(math, "--input", tmp_path / "math.jsonl", tmp_path / "math500.json", "--output", tmp_path / "m.parquet",
                 "--data-source", "HuggingFaceH4/MATH-500").to_dict()
    rows = rows_of(tmp_path / "m.parquet")
    assert [r["reward_model"]["ground_truth"] for r in rows] == [r"\frac{1}{2}", "6"]
    assert {r["data_source"] for r in rows} == {"HuggingFaceH4/MATH-500"}
    assert report["bad_rows"][0]["row"] == 1 and report["bad_rows"][0]["field"] == "solution"


def test_gsm8k_layout(tmp_path):
    row = {"question": "Tom has 1,000 apples and buys 200 more. How many?",
           "answer": "1000 + 200 = <<1000+200=1200>>1200\n#### 1,200"}
    pq.write_table(pa.Table.from_pylist([row]), tmp_path / "gsm8k.parquet")
    run(gsm8k, "--input", tmp_path / "gsm8k.parquet", "--output", tmp_path / "o.parquet")
    [out] = rows_of(tmp_path / "o.parquet")
    assert out["reward_model"]["ground_truth"] == "1200" and out["data_source"] == "openai/gsm8k"


def test_prompt_token_limit_with_a_local_tokenizer(tmp_path, tiny_tokenizer_dir):
    rows = [{"problem": "1+1?", "answer": "2"}, {"problem": "long " * 400, "answer": "x"}]
    (tmp_path / "t.json").write_text(json.dumps(rows))
    report = run(textrl, "--input", tmp_path / "t.json", "--output", tmp_path / "o.parquet",
                 "--tokenizer", tiny_tokenizer_dir, "--max-prompt-tokens", 256).to_dict()
    assert report["rows_written"] == {"train": 1}
    assert report["dropped_by_reason"] == {"prompt_too_long": 1}


def test_max_prompt_tokens_without_tokenizer_is_refused(tmp_path, capsys):
    (tmp_path / "t.json").write_text("[]")
    with pytest.raises(SystemExit):
        run(textrl, "--input", tmp_path / "t.json", "--output", tmp_path / "o.parquet", "--max-prompt-tokens", 9)
    assert "--tokenizer" in capsys.readouterr().err


# ---------------------------------------------------------------- cold-start SFT


THINK = "<think>\n2 + 2 = 4\n</think>\nThe answer is \\boxed{4}."


def test_grammar_sft_reads_all_three_families(tmp_path):
    openai = [
        {"messages": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": THINK}]},
        {"messages": [{"role": "assistant", "content": THINK}, {"role": "user", "content": "order?"}]},
        {"messages": [{"role": "user", "content": "Empty reply"}, {"role": "assistant", "content": ""}]},
    ]
    (tmp_path / "openai.json").write_text(json.dumps(openai))
    sharegpt = [
        {"system": "Be brief.", "conversations": [{"from": "human", "value": "Name 3 primes."},
                                                  {"from": "gpt", "value": "<think>2,3,5</think> 2, 3, 5"}]},
        {"conversations": [{"from": "alien", "value": "hi"}, {"from": "gpt", "value": "hi"}]},
    ]
    (tmp_path / "sharegpt.jsonl").write_text("\n".join(json.dumps(r) for r in sharegpt))
    alpaca = [{"instruction": "Add the numbers.", "input": "2 and 2", "output": THINK,
               "history": [["Hi", "<think>greet</think> Hello"]]}]
    pq.write_table(pa.Table.from_pylist(alpaca), tmp_path / "alpaca.parquet")

    report = run(grammar_sft, "--input", tmp_path / "openai.json", tmp_path / "sharegpt.jsonl",
                 tmp_path / "alpaca.parquet", "--output", tmp_path / "sft.parquet").to_dict()
    rows = rows_of(tmp_path / "sft.parquet")
    assert [r["messages"] for r in rows] == [
        [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": THINK}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name 3 primes."},
         {"role": "assistant", "content": "<think>2,3,5</think> 2, 3, 5"}],
        [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "<think>greet</think> Hello"},
         {"role": "user", "content": "Add the numbers.\n\n2 and 2"}, {"role": "assistant", "content": THINK}],
    ]
    assert report["notes"] == {"family_alpaca": 1, "family_openai": 1, "family_sharegpt": 1}
    reasons = sorted((b["file"].rsplit("/", 1)[-1], b["row"], b["reason"], b["field"]) for b in report["bad_rows"])
    assert reasons == [
        ("openai.json", 1, "bad_value", "messages"),
        ("openai.json", 2, "empty_field", "messages[1].content"),
        ("sharegpt.jsonl", 1, "bad_value", "conversations[0].from"),
    ]


def test_grammar_sft_unknown_columns_fail_listing_them(tmp_path, capsys):
    (tmp_path / "odd.json").write_text(json.dumps([{"query": "q", "response": "r"}]))
    with pytest.raises(SystemExit) as stop:
        run(grammar_sft, "--input", tmp_path / "odd.json", "--output", tmp_path / "o.parquet")
    assert stop.value.code == 2
    message = capsys.readouterr().err
    assert "odd.json" in message and "['query', 'response']" in message


def test_grammar_sft_append_instruction(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([{"instruction": "2+2?", "output": THINK}]))
    run(grammar_sft, "--input", tmp_path / "a.json", "--output", tmp_path / "o.parquet", "--append-instruction")
    [row] = rows_of(tmp_path / "o.parquet")
    assert row["messages"][0]["content"] == "2+2? " + RL_INSTRUCTION


# ---------------------------------------------------------------- verl reads the outputs


def test_verl_datasets_read_converter_outputs(tmp_path, tiny_tokenizer):
    from omegaconf import OmegaConf
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset
    from verl.utils.dataset.rl_dataset import RLHFDataset

    (tmp_path / "t.json").write_text(json.dumps([{"problem": "What is 1+1?", "answer": "2"},
                                                 {"question": "What is 2+3?", "final_answer": "5"}]))
    run(textrl, "--input", tmp_path / "t.json", "--output", tmp_path / "t.parquet")
    config = OmegaConf.create({"max_prompt_length": 256, "filter_overlong_prompts_workers": 1,
                               "cache_dir": str(tmp_path / "cache")})
    rl = RLHFDataset(str(tmp_path / "t.parquet"), tiny_tokenizer, config)
    assert len(rl) == 2 and rl[1]["reward_model"]["ground_truth"] == "5"

    (tmp_path / "s.json").write_text(json.dumps([{"instruction": "2+2?", "output": THINK}]))
    run(grammar_sft, "--input", tmp_path / "s.json", "--output", tmp_path / "s.parquet")
    sft = MultiTurnSFTDataset(str(tmp_path / "s.parquet"), tiny_tokenizer, OmegaConf.create({"max_length": 256}))
    item = sft[0]
    assert tiny_tokenizer.decode(item["input_ids"][item["loss_mask"].bool()]).startswith(THINK)


def test_cli_modules_run_as_scripts(tmp_path):
    import os
    import subprocess
    import sys

    repo_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": repo_root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    (tmp_path / "t.jsonl").write_text(json.dumps({"problem": "1+1?", "answer": "2"}) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "data_preprocess.textrl", "--input", str(tmp_path / "t.jsonl"),
         "--output", str(tmp_path / "o.parquet"), "--report", str(tmp_path / "r.json")],
        cwd=repo_root, env=env, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    assert read_report(tmp_path / "r.json")["rows_written"] == {"train": 1}
    done = subprocess.run(
        [sys.executable, "-m", "data_preprocess.synthetic", "--out", str(tmp_path / "syn"), "--seed", "1",
         "--num-train", "3", "--num-val", "2", "--difficulty", "2"],
        cwd=repo_root, env=env, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    assert pq.read_metadata(tmp_path / "syn" / "mmrl" / "val.parquet").num_rows == 2
