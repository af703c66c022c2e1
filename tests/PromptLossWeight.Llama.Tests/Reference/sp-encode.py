# Reference ids from SentencePiece itself (Debian's python3-sentencepiece).
# Usage: python3 sp-encode.py encode <tokenizer.model> <corpus.json> <out.json>
#        python3 sp-encode.py train <text file> <model prefix> <vocab size>
import json
import sys

import sentencepiece as spm

if sys.argv[1] == "encode":
    processor = spm.SentencePieceProcessor(model_file=sys.argv[2])
    with open(sys.argv[3], encoding="utf-8") as f:
        corpus = json.load(f)
    ids = [processor.encode(text) for text in corpus]
    with open(sys.argv[4], "w", encoding="utf-8") as f:
        json.dump(ids, f)
elif sys.argv[1] == "train":
    spm.SentencePieceTrainer.train(
        input=sys.argv[2], model_prefix=sys.argv[3], vocab_size=int(sys.argv[4]), model_type="bpe",
        byte_fallback=True, normalization_rule_name="identity", add_dummy_prefix=True,
        remove_extra_whitespaces=False, split_digits=True, character_coverage=0.9995,
        user_defined_symbols=["<tool>"], max_sentence_length=100000, minloglevel=2)
else:
    sys.exit("unknown command " + sys.argv[1])
