// Runs a TF.js graph model with TensorFlow.js's own CPU kernels, for tests/test_oracle_tfjs.py.
// usage: node run_graph.js MODEL_JSON REQUEST_JSON
// REQUEST_JSON: {"input": {"name": ..., "shape": [...], "file": raw little-endian float32},
//                "outputs": [node names], "out_dir": where OUTPUT_INDEX.f32 and shapes.json go}
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const converter = require('@tensorflow/tfjs-converter');

function float32From(buffer) {
  // a copy: Node's small-file buffers may start at an offset that Float32Array cannot view
  const bytes = Uint8Array.prototype.slice.call(buffer);
  return new Float32Array(bytes.buffer, 0, bytes.byteLength / 4);
}

function fileHandler(modelJson) {
  const json = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const directory = path.dirname(modelJson);
  const loadWeights = async (manifest) => {
    const specs = [];
    const shards = [];
    for (const group of manifest) {
      for (const shard of group.paths) shards.push(fs.readFileSync(path.join(directory, shard)));
      specs.push(...group.weights);
    }
    const all = Uint8Array.prototype.slice.call(Buffer.concat(shards));
    return [specs, all.buffer];
  };
  return {load: () => tf.io.getModelArtifactsForJSON(json, loadWeights)};
}

async function main() {
  const [modelJson, requestJson] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const model = await converter.loadGraphModel(fileHandler(modelJson));
  const request = JSON.parse(fs.readFileSync(requestJson, 'utf8'));
  const input = tf.tensor(float32From(fs.readFileSync(request.input.file)), request.input.shape, 'float32');
  let outputs = await model.executeAsync({[request.input.name]: input}, request.outputs);
  if (!Array.isArray(outputs)) outputs = [outputs];
  const shapes = [];
  outputs.forEach((tensor, index) => {
    const values = Float32Array.from(tensor.dataSync());
    fs.writeFileSync(path.join(request.out_dir, `${index}.f32`), Buffer.from(values.buffer));
    shapes.push(tensor.shape);
  });
  fs.writeFileSync(path.join(request.out_dir, 'shapes.json'), JSON.stringify(shapes));
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
