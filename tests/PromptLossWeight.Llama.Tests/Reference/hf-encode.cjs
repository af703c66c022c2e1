// Reference ids from the tokenizer core of transformers.js (@huggingface/tokenizers).
// Usage: node hf-encode.cjs <module dir> <tokenizer folder> <corpus.json> <out.json>
// The corpus is a JSON array of strings; the output is a JSON array of id arrays (no special tokens added).
const fs = require('fs');
const path = require('path');
const [moduleDir, folder, corpusPath, outPath] = process.argv.slice(2);
const { Tokenizer } = require(path.join(moduleDir, 'dist', 'tokenizers.cjs'));
const json = JSON.parse(fs.readFileSync(path.join(folder, 'tokenizer.json'), 'utf8'));
const config = JSON.parse(fs.readFileSync(path.join(folder, 'tokenizer_config.json'), 'utf8'));
const tokenizer = new Tokenizer(json, config);
const corpus = JSON.parse(fs.readFileSync(corpusPath, 'utf8'));
const ids = corpus.map(text => Array.from(tokenizer.encode(text, { add_special_tokens: false }).ids, Number));
fs.writeFileSync(outPath, JSON.stringify(ids));
