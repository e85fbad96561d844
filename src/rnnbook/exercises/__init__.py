"""Checkers for the course's exercises: they test a reader's function on fresh random inputs.

A checker never raises on a wrong answer: whatever the reader's code does (wrong shape, NaN,
an exception, returning None), it prints what went wrong on which input and returns the
points earned. It reports inputs and mismatching values, never the reference's code.
Each chapter's checkers live in their own module (`ch00`, `ch01`, ...) and are re-exported here.
An answer that calls the course's reference (or a listed torch equivalent) scores 0 (see `_guard`).
"""
from ._core import Case, Score, compare_arrays, credit, find_fixed_cases, fresh_seed, run_checks
from ._guard import Shortcut, trusted
from .ch00 import check_one_hot, check_pad_with_mask
from .ch01 import check_ar_design, check_backtrack, check_forward, check_kalman_update, check_maxplus_matmul
from .ch02 import check_greedy_generate, check_perplexity, check_rnn_forward, check_rnn_step
from .ch03 import check_hidden_delta, check_numerical_gradient, check_rnn_backward, check_tbptt_windows
from .ch04 import check_clip_by_global_norm, check_jacobian_norm, check_orthogonal_from, check_spectral_radius
from .ch05 import check_gru_step, check_lstm_step, check_minimal_gru_step, check_param_count
from .ch06 import (check_bidirectional, check_collapse, check_count_alignments, check_ctc_forward,
                   check_highway_layer, check_mixture_output, check_reverse_padded)
from .ch07 import check_kn_bigram, check_loss_summary, check_sampling_distribution, check_stream_batches
from .ch08 import check_analogy, check_glove_weight, check_keep_probability, check_sgns_loss_grad
from .ch09 import check_additive_attention, check_beam_step, check_decode_loop
from .ch10 import check_add_coordinates, check_sentence_bleu
from .ch11 import check_accuracy_by_length, check_last_valid, check_masked_mean_pool, check_tfidf
from .ch12 import check_classify_by_likelihood, check_diag_gaussian_logpdf, check_gaussian_forward_step, check_masked_mean
from .ch13 import check_condition_inputs, check_midi_to_hz, check_temperature_softmax, check_transpose_melody
from .ch14 import (check_attend_with_cache, check_causal_mask, check_combine, check_doubling_scan,
                   check_linear_attention_step)

__all__ = ["Case", "Score", "Shortcut", "compare_arrays", "credit", "find_fixed_cases", "fresh_seed", "run_checks", "trusted",
           "check_one_hot", "check_pad_with_mask"]
__all__ += ["check_ar_design", "check_kalman_update", "check_forward", "check_backtrack", "check_maxplus_matmul"]
__all__ += ["check_rnn_step", "check_rnn_forward", "check_perplexity", "check_greedy_generate"]
__all__ += ["check_hidden_delta", "check_numerical_gradient", "check_rnn_backward", "check_tbptt_windows"]
__all__ += ["check_spectral_radius", "check_jacobian_norm", "check_clip_by_global_norm", "check_orthogonal_from"]
__all__ += ["check_lstm_step", "check_gru_step", "check_minimal_gru_step", "check_param_count"]
__all__ += ["check_bidirectional", "check_reverse_padded", "check_highway_layer", "check_mixture_output"]
__all__ += ["check_collapse", "check_ctc_forward", "check_count_alignments"]
__all__ += ["check_loss_summary", "check_kn_bigram", "check_sampling_distribution", "check_stream_batches"]
__all__ += ["check_sgns_loss_grad", "check_keep_probability", "check_glove_weight", "check_analogy"]
__all__ += ["check_additive_attention", "check_beam_step", "check_decode_loop"]
__all__ += ["check_add_coordinates", "check_sentence_bleu"]
__all__ += ["check_masked_mean_pool", "check_last_valid", "check_tfidf", "check_accuracy_by_length"]
__all__ += ["check_diag_gaussian_logpdf", "check_gaussian_forward_step", "check_classify_by_likelihood", "check_masked_mean"]
__all__ += ["check_transpose_melody", "check_midi_to_hz", "check_temperature_softmax", "check_condition_inputs"]

__all__ += ["check_combine", "check_causal_mask", "check_attend_with_cache", "check_linear_attention_step",
            "check_doubling_scan"]

# Every checker finds its fixed (visible) cases itself, so that they never earn partial credit.
for _name in [n for n in __all__ if n.startswith("check_")]:
    globals()[_name] = find_fixed_cases(globals()[_name])
del _name
