"""Training, one layer: the loop for one model (`loop`: configuration, checkpoints, log, resume, the run
folder's lock), packed multi-model training (`packed`: K models of one architecture as one network), the
step as one CUDA graph (`graphed`), when a loop checkpoints and stops besides every `checkpoint_every` steps
(`stopping`: every 10 minutes, at a deadline, before Ctrl-C or SIGTERM take effect) and runs started from
another run's checkpoint (`fork`: a TopDis run from its base run, a run grown older from its younger self).
The names below are what the layers above use; `course_lib.kit.runs.train_or_load` adds the runs
cache and the pretrained zoo.
"""
from course_lib.training.loop import (CHECKPOINT, CONFIG, LOG, SUMMARY, NonFiniteLossError, Run, TrainConfig,
                                      UnusableRunError, check_overwritable, checkpoint_identity, checkpoint_step,
                                      clear_run_directory,
                                      default_runs_dir, load_checkpoint, load_run, read_config_file,
                                      read_run_config, train)
from course_lib.training.fork import (FORKABLE_BASES, extend_run, extend_younger_run, fork_topdis, fork_topdis_at_delay,
                                      topdis_base_config)
from course_lib.training.packed import pack_groups, train_packed
from course_lib.training.stopping import deadline_after, past

__all__ = [
    "CHECKPOINT", "CONFIG", "LOG", "SUMMARY", "NonFiniteLossError", "UnusableRunError", "TrainConfig", "Run",
    "train", "past", "deadline_after", "load_run", "load_checkpoint", "read_config_file", "read_run_config",
    "default_runs_dir",
    "check_overwritable", "clear_run_directory", "checkpoint_identity", "checkpoint_step", "pack_groups",
    "train_packed", "fork_topdis", "fork_topdis_at_delay", "FORKABLE_BASES", "topdis_base_config", "extend_run",
    "extend_younger_run"]
