"""Stage 1 refuses a trainer.total_training_steps its epochs cannot reach, before it trains anything."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from omegaconf import OmegaConf

from verl_ext.preflight.sft_length import SFTRunTooLong, check_sft_steps_fit, local_parquet_rows, max_sft_steps


def parquet(path, rows):
    pq.write_table(pa.table({"prompt": [f"q{i}" for i in range(rows)]}), path)
    return path


def config(files, steps, batch=16, epochs=1):
    return OmegaConf.create({"data": {"train_files": files, "train_batch_size": batch},
                             "trainer": {"total_training_steps": steps, "total_epochs": epochs}})


@pytest.mark.parametrize("rows,batch,epochs,expected", [
    (256, 16, 1, 16),   # the CPU main job: exactly one epoch
    (257, 16, 1, 16),   # the partial last batch is dropped
    (15, 16, 5, 0),     # fewer rows than one batch: no step at all
    (100, 32, 3, 9),    # 3 whole batches per epoch
])
def test_the_most_steps_are_whole_global_batches_times_epochs(rows, batch, epochs, expected):
    assert max_sft_steps(rows, batch, epochs) == expected


def test_rows_are_summed_over_local_parquet_files_and_unknown_otherwise(tmp_path):
    a, b = parquet(tmp_path / "a.parquet", 10), parquet(tmp_path / "b.parquet", 7)
    assert local_parquet_rows(str(a)) == 10 and local_parquet_rows([str(a), str(b)]) == 17
    assert local_parquet_rows([str(a), "hdfs://cluster/train.parquet"]) is None
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    assert local_parquet_rows(str(tmp_path / "bad.parquet")) is None


def test_a_reachable_length_passes_and_one_step_more_is_refused_with_the_fix(tmp_path):
    files = str(parquet(tmp_path / "train.parquet", 256))
    check_sft_steps_fit(config(files, 16))
    check_sft_steps_fit(config(files, None))  # epochs decide the length
    with pytest.raises(SFTRunTooLong) as refused:
        check_sft_steps_fit(config(files, 17))
    message = str(refused.value)
    assert "trainer.total_training_steps=17 cannot be reached: data.train_files has 256 rows" in message
    assert "at most 16 steps per epoch, x trainer.total_epochs=1 = 16" in message
    assert "set trainer.total_epochs=2 or trainer.total_training_steps<=16" in message


def test_the_sft_launcher_refuses_before_training(tmp_path, launch):
    done = launch(tmp_path, "-m", "verl_ext.stages.sft", "trainer.total_training_steps=40",
                  f"trainer.default_local_dir={tmp_path / 'ckpt'}")
    assert done.returncode == 2, done.stderr[-3000:]
    # The CPU profile's SFT data: 256 rows at 16 per step, one epoch.
    assert ("[revisual] error: trainer.total_training_steps=40 cannot be reached: data.train_files has 256 rows, "
            "data.train_batch_size=16 gives at most 16 steps per epoch") in done.stderr
    assert "set trainer.total_epochs=3 or trainer.total_training_steps<=16" in done.stderr
    assert not (tmp_path / "ckpt").exists()
