"""RunConfig -> argv -> RunConfig: flags derived from the config's fields, for every field."""
import dataclasses
import typing

import pytest

from vae.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from vae.flags import _scalar

SECTIONS = (("model", ModelConfig), ("train", TrainConfig), ("data", DataConfig))


def _other_value(tp, default):
    """A value of the field's type that differs from its default."""
    if typing.get_origin(tp) is list:
        return [7, 3]
    base, choices = _scalar(tp)
    if choices:
        return next(c for c in choices if c != default)
    if base is bool:
        return not default
    if base is int:
        return (default or 0) + 3
    if base is float:
        return (default or 0.0) + 0.25
    return "-a value/that starts with a dash"


def _fields():
    for section, klass in SECTIONS:
        hints = typing.get_type_hints(klass)
        ref = klass()
        for f in dataclasses.fields(klass):
            yield section, f.name, hints[f.name], getattr(ref, f.name)


@pytest.mark.parametrize("section,name,tp,default", list(_fields()),
                         ids=[f"{s}.{n}" for s, n, _, _ in _fields()])
def test_every_field_round_trips(section, name, tp, default):
    cfg = RunConfig()
    setattr(getattr(cfg, section), name, _other_value(tp, default))
    back = RunConfig.from_argv(cfg.to_argv())
    assert back == cfg
    assert getattr(getattr(back, section), name) != default


def test_all_fields_at_once_and_defaults_stay_short():
    cfg = RunConfig()
    for section, name, tp, default in _fields():
        setattr(getattr(cfg, section), name, _other_value(tp, default))
    assert RunConfig.from_argv(cfg.to_argv()) == cfg
    # Only changed fields (and the model's input shape, which the trainer checks) are written.
    assert RunConfig().to_argv() == ["--model-channels=1", "--model-image-size=8"]


def test_values_never_read_as_flags_and_unknown_flags_refused():
    cfg = RunConfig(data=DataConfig(name="folder", data_dir="--epochs"))
    assert RunConfig.from_argv(cfg.to_argv()).data.data_dir == "--epochs"
    with pytest.raises(ConfigError, match="unknown arguments"):
        RunConfig.from_argv(["--no-such-flag", "3"])
