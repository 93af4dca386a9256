// Validates Kubernetes objects offline against the Kubernetes and prometheus-operator
// schemas (kubernetes-models, @kubernetes-models/prometheus-operator). Those packages
// are ES modules only, which jest's CommonJS runtime cannot import: the tests run this
// file with node, send a JSON array of objects on stdin, and read a JSON array of
// { kind, name, error } back (error null when the object is valid).
import * as apps from 'kubernetes-models/apps/v1';
import * as core from 'kubernetes-models/v1';
import * as monitoring from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

const MODELS = { 'apps/v1': apps, v1: core, 'monitoring.coreos.com/v1': monitoring };

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  const results = JSON.parse(input).map((object) => {
    const Model = MODELS[object.apiVersion]?.[object.kind];
    const result = { kind: object.kind, name: object.metadata?.name ?? null, error: null };
    if (!Model) return { ...result, error: `no schema for apiVersion ${object.apiVersion} kind ${object.kind}` };
    try {
      new Model(object).validate();
    } catch (error) {
      result.error = error.message;
    }
    return result;
  });
  process.stdout.write(JSON.stringify(results));
});
