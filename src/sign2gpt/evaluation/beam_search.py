"""Beam search over the sign-conditioned LM, batched over videos (spec §10).

The rule is transformers' `generate(num_beams=K, do_sample=False, length_penalty=1.0,
early_stopping=False)` as implemented in transformers 5, re-done here because the adapted LM is
not a `GenerationMixin` model. Per video, each step:

1. Every running beam proposes every token: score = beam log-prob + log_softmax(logits). The
   best 2K (beam, token) candidates are kept, in order.
2. A candidate *finishes* when its token is `eos_id` or the sequence reaches `max_len`
   positions (start token included). Only finished candidates ranked in the top K of the 2K are
   considered; each is scored by its summed log-prob / (generated tokens, eos included) **
   length_penalty and enters the K-best finished list if it beats its worst member.
3. The best K candidates that did not finish become the next running beams.
4. The video is done once it has K finished hypotheses and the best running beam, scored at
   its *current* length, cannot beat the worst of them (transformers' `early_stopping=False`
   heuristic), or when `max_len` is reached. Search stops when every video is done.

The answer is the best finished hypothesis, without the start token and cut at its first eos.
Beams of one video start from the single start token (the other K-1 beams are masked with
-1e9 on the first step, as in transformers), so beam 1 is greedy decoding.

`use_cache=True` runs each new token once against the cached self-attention K/V and the
memory K/V, computed once per video and shared by its beams (not copied per beam: K times less
FC_m and K/V work and memory); `use_cache=False` recomputes the whole prefix, FC_m and the memory
K/V of every beam at every step, as the official code does (HF `use_cache=False`). Both give the
same hypotheses up to floating-point ties.

Whether every video is done is asked of the device every `CHECK_EVERY` steps on a GPU (each
answer waits for the GPU to finish its queued work) and every step on a CPU. Steps taken after a
video is done change none of its hypotheses, so the answer is the same.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sign2gpt.models.gated_lm import SignConditionedLM

_NEG = -1.0e9  # transformers' "impossible" score
CHECK_EVERY = 4  # steps between early-stopping checks on a GPU


def _gather(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x [B, N, ...], index [B, M] -> [B, M, ...] (per video, pick beams)."""
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand(*index.shape, *x.shape[2:]))


@torch.inference_mode()
def beam_search(
    model: SignConditionedLM,
    memory: torch.Tensor,
    memory_mask: torch.Tensor,
    *,
    bos_id: int,
    eos_id: int,
    pad_id: int,
    beam: int = 4,
    max_len: int = 64,
    use_cache: bool = True,
    length_penalty: float = 1.0,
    check_every: int | None = None,
) -> list[list[int]]:
    """Best hypothesis per video: token ids without the start token, cut at the first eos.

    `memory` [B, S, D], `memory_mask` [B, S]; `bos_id` is the start token (`</s>` = 2 for XGLM);
    `max_len` counts the start token (HF `max_length`), so at most `max_len - 1` tokens are
    generated. `check_every`: steps between early-stopping checks (None: `CHECK_EVERY` on a GPU, 1
    on a CPU). The model runs in eval mode (restored afterwards).
    """
    if beam < 1 or max_len < 2:
        raise ValueError(f"beam must be >= 1 and max_len >= 2, got beam={beam}, max_len={max_len}")
    batch, device, k = memory.shape[0], memory.device, beam
    was_training = model.training
    model.eval()
    try:
        if use_cache:
            cache = model.start_decoding(memory, memory_mask)  # memory K/V [B, ...], shared by each video's beams
        else:
            memory, memory_mask = memory.repeat_interleave(k, 0), memory_mask.repeat_interleave(k, 0)  # [B*K, ...]
        check_every = check_every or (1 if device.type == "cpu" else CHECK_EVERY)

        running = torch.full((batch, k, max_len), pad_id, dtype=torch.long, device=device)
        running[:, :, 0] = bos_id
        running_scores = torch.zeros(batch, k, device=device)
        running_scores[:, 1:] = _NEG  # only beam 0 is live at the first step
        finished = running.clone()
        finished_scores = torch.full((batch, k), _NEG, device=device)
        finished_len = torch.zeros(batch, k, dtype=torch.long, device=device)
        is_finished = torch.zeros(batch, k, dtype=torch.bool, device=device)
        can_improve = torch.ones(batch, dtype=torch.bool, device=device)
        in_top_k = torch.arange(2 * k, device=device) < k
        batch_rows = torch.arange(batch, device=device)[:, None] * k

        for cur_len in range(1, max_len):  # prefix length; this step writes position cur_len
            if use_cache:
                logits = model.decode_step(running[:, :, cur_len - 1].reshape(-1, 1), cache)[:, -1]
            else:
                logits = model(running[:, :, :cur_len].reshape(batch * k, cur_len), None, memory, memory_mask)[:, -1]
            log_probs = F.log_softmax(logits.float(), dim=-1)                          # [B*K, V]
            vocab = log_probs.shape[-1]
            if vocab < 2 * k:
                raise ValueError(f"beam {k} needs a vocabulary of at least {2 * k} tokens, got {vocab}")
            scores = (log_probs.view(batch, k, vocab) + running_scores[:, :, None]).view(batch, k * vocab)
            top_scores, top_index = scores.topk(2 * k, dim=1)                          # [B, 2K], sorted
            source, token = top_index // vocab, top_index % vocab
            candidates = _gather(running, source)                                      # [B, 2K, max_len]
            candidates[:, :, cur_len] = token
            done = (token == eos_id) | (cur_len + 1 >= max_len)

            # 3. next running beams: the best K candidates that did not finish
            keep = (top_scores + done.float() * _NEG).topk(k, dim=1).indices
            running, running_scores = _gather(candidates, keep), _gather(top_scores + done.float() * _NEG, keep)
            if use_cache:
                cache.reorder((_gather(source, keep) + batch_rows).view(-1))

            # 2. finished hypotheses: top-K ranked, scored with the length penalty
            newly = done & in_top_k[None] & can_improve[:, None]
            new_scores = torch.where(newly, top_scores / (cur_len ** length_penalty), _NEG)
            merged_scores = torch.cat((finished_scores, new_scores), dim=1)            # [B, 3K]
            best = merged_scores.topk(k, dim=1).indices
            finished_scores = _gather(merged_scores, best)
            finished = _gather(torch.cat((finished, candidates), dim=1), best)
            finished_len = _gather(torch.cat((finished_len, torch.full_like(token, cur_len)), dim=1), best)
            is_finished = _gather(torch.cat((is_finished, newly), dim=1), best)

            # 4. can the best running beam still beat the worst finished hypothesis?
            best_running = running_scores[:, 0] / (cur_len ** length_penalty)
            worst_finished = torch.where(is_finished.all(dim=1), finished_scores.min(dim=1).values, _NEG)
            can_improve &= best_running > worst_finished
            if cur_len % check_every == 0 and not bool(can_improve.any()):
                break

        hypotheses = []
        for best_tokens, length in zip(finished[:, 0].tolist(), finished_len[:, 0].tolist()):
            tokens = best_tokens[1: 1 + length]
            hypotheses.append(tokens[: tokens.index(eos_id)] if eos_id in tokens else tokens)
        return hypotheses
    finally:
        model.train(was_training)
