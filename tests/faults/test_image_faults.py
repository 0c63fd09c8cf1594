"""A corrupt image in the training parquet: found before training, named by file, row and field; skipped
and counted (``data.on_bad_image=skip``) or fatal before Ray starts (``fail``). The check runs in the
launcher, so it covers verl's own ``RLHFDataset`` (the GPU path) as much as the CPU dataset class."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from data_preprocess.schema import make_rl_record, rl_schema
from verl_ext.preflight import check_images
from verl_ext.preflight import images as image_check
from verl_ext.preflight.images import BadImages, scan_parquet_images, usable_file


@pytest.fixture
def rl_parquet(tmp_path, png):
    """``rl_parquet(name, broken_rows)``: six converter-made RL rows; the listed rows get a truncated image."""

    def write(name="train.parquet", broken_rows=(3,)):
        rows = []
        for index in range(6):
            image = png(28 * (1 + index % 3), 28, (40 * index, 90, 200))
            if index in broken_rows:
                image = image[: len(image) // 2]
            rows.append(make_rl_record(data_source="test", question=f"<image>How wide is picture {index}?",
                                       answer=str(index), index=index, split="train", images=[image]))
        path = tmp_path / name
        pq.write_table(pa.Table.from_pylist(rows, schema=rl_schema(True)), path)
        return path

    return write


def test_every_bad_image_is_named_by_file_row_and_field(rl_parquet):
    path = rl_parquet(broken_rows=(1, 4))
    result = scan_parquet_images(str(path), "images")
    assert result.rows == 6
    assert [(b.row, b.field) for b in result.bad] == [(1, "images[0]"), (4, "images[0]")]
    assert result.bad[0].message == "corrupt_image: cannot decode image (embedded bytes): OSError: image file is truncated"
    assert result.bad[0].describe().startswith(f"{path}: row 1: field 'images[0]': corrupt_image")


def test_skip_trains_on_a_copy_without_the_bad_rows_and_leaves_the_original(tmp_path, rl_parquet):
    path = rl_parquet()
    original = path.read_bytes()
    used, result = usable_file(str(path), "images", "skip", tmp_path / "checks")
    assert used != str(path) and used.startswith(str(tmp_path / "checks"))
    kept = pq.read_table(used)
    assert [r["answer"] for r in kept.column("extra_info").to_pylist()] == ["0", "1", "2", "4", "5"]
    assert kept.schema.metadata == pq.read_schema(path).metadata  # datasets still decodes images to PIL
    assert path.read_bytes() == original and len(result.bad) == 1


def test_a_rescan_is_skipped_for_the_same_file_and_done_for_a_changed_one(tmp_path, rl_parquet, monkeypatch):
    path = rl_parquet()
    first, _ = usable_file(str(path), "images", "skip", tmp_path / "checks")

    def no_second_scan(*args, **kwargs):
        raise AssertionError("the same file was scanned again")

    monkeypatch.setattr(image_check, "scan_parquet_images", no_second_scan)
    assert usable_file(str(path), "images", "skip", tmp_path / "checks")[0] == first
    monkeypatch.undo()
    rl_parquet(broken_rows=())  # the same path, new content: scanned again, nothing to skip
    assert usable_file(str(path), "images", "skip", tmp_path / "checks")[0] == str(path)


def test_fail_names_file_row_and_field(tmp_path, rl_parquet):
    path = rl_parquet(broken_rows=(2,))
    with pytest.raises(BadImages) as refused:
        usable_file(str(path), "images", "fail", tmp_path / "checks")
    message = str(refused.value)
    assert message.startswith(f"1 of 6 rows of {path} have an image that does not decode:\n  {path}: row 2: ")
    assert "data.on_bad_image=skip" in message


def test_skip_refuses_when_no_row_is_left(tmp_path, rl_parquet):
    path = rl_parquet(broken_rows=range(6))
    with pytest.raises(BadImages, match="6 of 6 rows .* no row would be left"):
        usable_file(str(path), "images", "skip", tmp_path / "checks")


def test_the_config_is_pointed_at_the_checked_files(tmp_path, rl_parquet):
    train, val = rl_parquet("train.parquet"), rl_parquet("val.parquet", broken_rows=())
    config = OmegaConf.create({"data": {"train_files": str(train), "val_files": [str(val)], "image_key": "images",
                                        "on_bad_image": "skip"}})
    OmegaConf.set_struct(config, True)
    check_images(config, tmp_path / "checks")
    assert config.data.train_files.startswith(str(tmp_path / "checks"))
    assert list(config.data.val_files) == [str(val)]


def test_verl_rlhf_dataset_dies_on_the_raw_file_and_reads_the_checked_copy(tmp_path, tmp_path_factory, rl_parquet):
    """verl's own prompt filter (``RLHFDataset.maybe_filter_out_long_prompts``) is where training died."""
    from verl.utils import hf_processor, hf_tokenizer

    from verl_ext.cpu.dataset import CPURLHFDataset
    from verl_ext.cpu.processor import register_torchvision_free_processor
    from verl_ext.tiny_model import build_tiny_model

    register_torchvision_free_processor()
    model = build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-qwen25vl")
    tokenizer, processor = hf_tokenizer(str(model)), hf_processor(str(model))
    config = OmegaConf.create({"max_prompt_length": 256, "filter_overlong_prompts": True, "truncation": "left",
                               "filter_overlong_prompts_workers": 1, "cache_dir": str(tmp_path / "cache")})
    path = rl_parquet()
    with pytest.raises(OSError, match="image file is truncated"):
        CPURLHFDataset(str(path), tokenizer, config, processor=processor)
    used, _ = usable_file(str(path), "images", "skip", tmp_path / "checks")
    assert len(CPURLHFDataset(used, tokenizer, config, processor=processor)) == 5


def test_the_rl_launcher_fails_fast_on_a_bad_image_with_fail(tmp_path, rl_parquet, launch):
    path = rl_parquet(broken_rows=(5,))
    done = launch(tmp_path, "-m", "verl_ext.trainer.main", f"data.train_files={path}", "data.on_bad_image=fail",
                  f"trainer.default_local_dir={tmp_path / 'ckpt'}")
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"[revisual] error: 1 of 6 rows of {path} have an image that does not decode:\n  {path}: row 5: " \
           "field 'images[0]': corrupt_image" in done.stderr
    assert "ray init" not in done.stdout and not (tmp_path / "metrics").exists()
