from ftlab.core.tokenizer import EOS, IM_END


def test_every_text_starts_with_eos_and_decodes_back(small_tokenizer):
    text = "The capital of France is Paris."
    ids = small_tokenizer(text)["input_ids"]
    assert ids[0] == small_tokenizer.convert_tokens_to_ids(EOS)
    assert small_tokenizer.decode(ids, skip_special_tokens=True) == text
    assert len(small_tokenizer) == 512


def test_chat_template_marks_only_assistant_tokens_for_the_loss(small_tokenizer):
    messages = [{"role": "user", "content": "Count the words: red fish"},
                {"role": "assistant", "content": "2"}]
    out = small_tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                              return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    kept = small_tokenizer.decode([i for i, m in zip(ids, mask) if m])
    assert kept == "2" + IM_END
    assert sum(mask) < len(ids) / 3


def test_generation_prompt_opens_an_assistant_turn(small_tokenizer):
    text = small_tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                               add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
