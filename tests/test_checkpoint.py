"""Checkpoints: round trip, tied weights, RNG restore, tamper/truncation refusal, name mapping."""

import json
import random
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from sign2gpt.core.errors import DataError
from sign2gpt.runtime.checkpoint import load_checkpoint, load_weights, process_rng_state, save_checkpoint
from sign2gpt.training.optim import WarmupCosine, build_optimizer


class Stage1(nn.Module):
    def __init__(self):
        super().__init__()
        self.sign_model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8))
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.sign_model(x))


class Stage2(nn.Module):
    def __init__(self):
        super().__init__()
        self.sign_model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8))
        self.decoder = nn.Linear(8, 5)


def trained(seed=0, steps=3):
    torch.manual_seed(seed)
    model = Stage1()
    opt = build_optimizer(model, 1e-2, 0.01)
    sched = WarmupCosine(opt, warmup_steps=2, total_steps=10)
    for _ in range(steps):
        opt.zero_grad()
        model(torch.randn(6, 4)).pow(2).mean().backward()
        opt.step()
        sched.step()
    return model, opt, sched


def fresh():
    model = Stage1()
    opt = build_optimizer(model, 1e-2, 0.01)
    return model, opt, WarmupCosine(opt, warmup_steps=2, total_steps=10)


def test_round_trip_restores_model_optimizer_scheduler(tmp_path):
    model, opt, sched = trained()
    path = save_checkpoint(tmp_path / "last.safetensors", model, opt, sched, epoch=4, best_metric=0.25,
                           extra={"note": "x"})
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]  # no temp file left
    m2, o2, s2 = fresh()
    state = load_checkpoint(path, m2, o2, s2)
    assert state == {"epoch": 4, "best_metric": 0.25, "extra": {"note": "x"}, "rng": "restored"}
    for (k, a), b in zip(model.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    assert s2.state_dict() == sched.state_dict()
    assert o2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for p, q in zip(model.parameters(), m2.parameters()):
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(opt.state[p][key], o2.state[q][key])
    # one more identical step on both gives identical weights
    x = torch.randn(6, 4)
    for m, o, s in ((model, opt, sched), (m2, o2, s2)):
        o.zero_grad()
        m(x).pow(2).mean().backward()
        o.step()
        s.step()
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), m2.parameters()))


def test_rng_states_are_restored(tmp_path):
    model, _, _ = trained()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    save_checkpoint(tmp_path / "c.safetensors", model, epoch=1)
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(2), np.random.seed(2), torch.manual_seed(2)
    load_checkpoint(tmp_path / "c.safetensors", Stage1())
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_tied_weights_are_saved_and_loaded(tmp_path):
    def tied():
        m = nn.ModuleDict({"emb": nn.Embedding(5, 3), "out": nn.Linear(3, 5, bias=False)})
        m["out"].weight = m["emb"].weight
        return m

    a = tied()
    save_checkpoint(tmp_path / "t.safetensors", a, epoch=0, rng_state=False)
    b = tied()
    load_checkpoint(tmp_path / "t.safetensors", b)
    assert torch.equal(b["emb"].weight, a["emb"].weight) and b["out"].weight is b["emb"].weight


def header_len(path):
    return struct.unpack("<Q", path.read_bytes()[:8])[0]


def test_tampered_data_is_refused(tmp_path):
    model, opt, sched = trained()
    path = save_checkpoint(tmp_path / "c.safetensors", model, opt, sched, epoch=1)
    data = bytearray(path.read_bytes())
    data[8 + header_len(path) + 5] ^= 0x01  # one bit inside the tensor data
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="SHA-256") as e:
        load_checkpoint(path, Stage1())
    assert str(path) in str(e.value)
    with pytest.raises(DataError, match="SHA-256"):
        load_weights(path, Stage1())


def test_tampered_metadata_is_refused(tmp_path):
    model, _, _ = trained()
    path = save_checkpoint(tmp_path / "c.safetensors", model, epoch=7, best_metric=0.5)
    raw = path.read_bytes()
    n = header_len(path)
    header = raw[8 : 8 + n].decode()
    assert '\\"epoch\\": 7' in header
    forged = header.replace('\\"epoch\\": 7', '\\"epoch\\": 9')
    path.write_bytes(raw[:8] + forged.encode() + raw[8 + n :])
    with pytest.raises(DataError, match="SHA-256"):
        load_checkpoint(path, Stage1())


def test_truncated_missing_and_foreign_files_are_refused(tmp_path):
    model, opt, sched = trained()
    path = save_checkpoint(tmp_path / "c.safetensors", model, opt, sched, epoch=1)
    raw = path.read_bytes()
    for cut in (len(raw) - 10, 8 + header_len(path) // 2, 4):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(raw[:cut])
        with pytest.raises(DataError, match="truncated or corrupt") as e:
            load_checkpoint(bad, Stage1())
        assert bad.name in str(e.value)
    with pytest.raises(DataError, match="not found"):
        load_checkpoint(tmp_path / "nope.safetensors", Stage1())
    plain = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(plain))
    with pytest.raises(DataError, match="not a sign2gpt checkpoint"):
        load_checkpoint(plain, Stage1())
    m = Stage1()
    load_weights(plain, m)  # a plain weights file is fine for load_weights
    assert torch.equal(m.head.weight, model.head.weight)


def test_weights_only_checkpoint_cannot_resume_an_optimizer(tmp_path):
    model, _, _ = trained()
    path = save_checkpoint(tmp_path / "best.safetensors", model, epoch=2, rng_state=False)
    m2, o2, _ = fresh()
    with pytest.raises(DataError, match="optimizer"):
        load_checkpoint(path, m2, o2)


def test_load_weights_by_prefix(tmp_path):
    model, opt, sched = trained()
    path = save_checkpoint(tmp_path / "best.safetensors", model, opt, sched, epoch=3)
    s2 = Stage2()
    before = s2.decoder.weight.clone()
    result = load_weights(path, s2, prefix_map={"sign_model.": "sign_model."})
    assert all(torch.equal(a, b) for a, b in zip(s2.sign_model.state_dict().values(),
                                                 model.sign_model.state_dict().values()))
    assert torch.equal(s2.decoder.weight, before)
    assert not result.missing and not result.unexpected
    assert "sign_model.1.running_mean" in result.loaded

    class Renamed(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = Stage2().sign_model

    r = Renamed()
    load_weights(path, r, prefix_map={"sign_model.": "encoder."})
    assert torch.equal(r.encoder[0].weight, model.sign_model[0].weight)
    with pytest.raises(DataError, match="does not match"):
        load_weights(path, Stage2())  # strict: head.* unexpected, decoder.* missing
    partial = load_weights(path, Stage2(), strict=False)
    assert partial.unexpected == ["head.bias", "head.weight"]
    with pytest.raises(DataError, match="no weights start with"):
        load_weights(path, Stage2(), prefix_map={"encoder.": "sign_model."})


def test_shape_mismatch_is_refused(tmp_path):
    model, _, _ = trained()
    path = save_checkpoint(tmp_path / "c.safetensors", model, epoch=1)
    other = Stage1()
    other.head = nn.Linear(8, 4)
    with pytest.raises(DataError, match="do not fit"):
        load_checkpoint(path, other)


def test_only_trainable_leaves_frozen_weights_out(tmp_path):
    model, _, _ = trained()
    model.sign_model[0].requires_grad_(False)
    path = save_checkpoint(tmp_path / "c.safetensors", model, epoch=1, only_trainable=True)
    m2 = Stage1()
    m2.sign_model[0].requires_grad_(False)
    frozen_before = m2.sign_model[0].weight.clone()
    load_checkpoint(path, m2)
    assert torch.equal(m2.head.weight, model.head.weight)
    assert torch.equal(m2.sign_model[0].weight, frozen_before)  # not in the file, left alone
    with pytest.raises(DataError, match="missing trainable"):
        load_checkpoint(path, Stage1())  # here that layer is trainable: its weights are missing


def test_failed_save_leaves_nothing(tmp_path):
    model, _, _ = trained()
    with pytest.raises(TypeError, match="JSON"):
        save_checkpoint(tmp_path / "c.safetensors", model, epoch=1, extra={"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_state_is_plain_json(tmp_path):
    model, opt, sched = trained()
    path = save_checkpoint(tmp_path / "c.safetensors", model, opt, sched, epoch=1)
    n = header_len(path)
    header = json.loads(path.read_bytes()[8 : 8 + n])
    state = json.loads(header["__metadata__"]["state"])
    assert state["scheduler"]["last_step"] == 3 and state["optimizer"]["param_groups"][0]["betas"] == [0.9, 0.999]


def test_frozen_tied_lm_weights_stay_out_of_a_trainable_checkpoint(tmp_path):
    """A frozen LM whose output matrix is tied to its input embedding (XGLM, most GPTs) lists that
    matrix once in named_parameters() but twice in the state_dict: neither name may be saved."""
    from safetensors import safe_open
    from transformers import XGLMConfig, XGLMForCausalLM

    from sign2gpt.models.gated_lm import SignConditionedLM

    torch.manual_seed(0)
    lm = XGLMForCausalLM(XGLMConfig(vocab_size=2000, d_model=32, num_layers=1, attention_heads=2, ffn_dim=64,
                                    max_position_embeddings=32))
    assert lm.lm_head.weight is lm.get_input_embeddings().weight  # tied
    lm.requires_grad_(False)
    model = SignConditionedLM(lm, 8)
    path = save_checkpoint(tmp_path / "c.safetensors", model, epoch=1, only_trainable=True)
    with safe_open(str(path), "pt") as f:
        saved = {k for k in f.keys() if not k.startswith("__")}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    buffers = {n for n, _ in model.named_buffers() if n in model.state_dict()}
    assert saved == trainable | buffers
    assert not any(k.endswith(("embed_tokens.weight", "lm_head.weight")) for k in saved)
    # the file is the size of the adapters, not of the 2000 x 32 output matrix
    assert path.stat().st_size < 2000 * 32 * 4
    fresh = SignConditionedLM(XGLMForCausalLM(lm.config).requires_grad_(False), 8)
    load_checkpoint(path, fresh)  # loads: every trainable tensor is there, only frozen ones are absent


def test_every_rank_gets_its_own_rng_state_back(tmp_path):
    """A DDP run stores each rank's RNG states; a resume with the same number of processes gives
    each rank its own, with another number none (the caller re-derives them)."""
    model = nn.Linear(2, 2)
    states = []
    for rank in range(3):
        torch.manual_seed(100 + rank)
        random.seed(100 + rank)
        np.random.seed(100 + rank)
        states.append(process_rng_state())
    path = save_checkpoint(tmp_path / "last.safetensors", model, epoch=1, rank_rng=states)
    for rank in range(3):
        torch.manual_seed(0)
        random.seed(0)
        np.random.seed(0)
        assert load_checkpoint(path, model, rank=rank, world_size=3)["rng"] == "restored"
        torch.manual_seed(100 + rank)
        random.seed(100 + rank)
        np.random.seed(100 + rank)
        expected = (torch.rand(3), random.random(), np.random.rand())
        load_checkpoint(path, model, rank=rank, world_size=3)
        assert torch.equal(torch.rand(3), expected[0])
        assert random.random() == expected[1] and np.random.rand() == expected[2]
    torch.manual_seed(7)
    before = torch.get_rng_state()
    assert load_checkpoint(path, model, rank=0, world_size=2)["rng"] == "other world size"
    assert torch.equal(torch.get_rng_state(), before)  # nothing restored
    assert load_checkpoint(path, model, restore_rng=False)["rng"] == "absent"


def test_every_refusal_names_the_file(tmp_path):
    """A checkpoint that cannot be used is named in the error (the project's rule: an error names
    the bad item), whichever check refused it."""
    model, opt, sched = trained()
    full = save_checkpoint(tmp_path / "full.safetensors", model, opt, sched, epoch=1)
    no_sched = save_checkpoint(tmp_path / "no-sched.safetensors", model, opt, epoch=1)
    weights = save_checkpoint(tmp_path / "weights.safetensors", model, epoch=1, rng_state=False)
    plain = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(plain))
    m, o, s = fresh()
    other_opt = torch.optim.AdamW([{"params": list(m.parameters())}])  # one parameter group, not two

    class Refusing:  # a scheduler whose state is not this one's
        def load_state_dict(self, state):
            raise KeyError("last_epoch")
    cases = [
        (plain, lambda: load_checkpoint(plain, Stage1()), "not a sign2gpt checkpoint"),
        (weights, lambda: load_checkpoint(weights, m, o), "no optimizer state"),
        (no_sched, lambda: load_checkpoint(no_sched, m, o, s), "no scheduler state"),
        (full, lambda: load_checkpoint(full, m, other_opt), "optimizer state does not fit"),
        (full, lambda: load_checkpoint(full, m, o, Refusing()), "scheduler state does not fit"),
        (full, lambda: load_weights(full, Stage2(), prefix_map={"encoder.": "sign_model."}), "no weights start"),
    ]
    for path, load, problem in cases:
        with pytest.raises(DataError, match=problem) as e:
            load()
        assert str(path) in str(e.value), (problem, str(e.value))


def test_a_settings_fingerprint_does_not_depend_on_key_order():
    """A rerun whose config lists the same settings in another order resumes its checkpoint (an
    order-dependent fingerprint would discard it as stale)."""
    from sign2gpt.runtime.checkpoint import config_fingerprint

    assert config_fingerprint({"lr": 1e-3, "train": {"a": 1, "b": [2]}}) == \
        config_fingerprint({"train": {"b": [2], "a": 1}, "lr": 1e-3})
    assert config_fingerprint({"lr": 1e-3}) != config_fingerprint({"lr": 2e-3})
