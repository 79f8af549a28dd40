#!/usr/bin/env node
// Drives kafkajs (a pure-JavaScript client) through a broker for capture.
// kafkajs is not in the source tree: capture_all.sh npm-installs it into a
// temporary directory and points NODE_PATH at it.
//
// Each step runs on its own and reports failure without stopping the rest.
//
//   NODE_PATH=/tmp/kgw-capture-node/node_modules node kafkajs_client.js BOOTSTRAP TOPIC [quick]
//
// "quick" runs only the producers and the consumer group (for the passes
// against mock clusters with capped API versions).
'use strict';

const { Kafka, CompressionTypes, logLevel } = require('kafkajs');

const [bootstrap, topic, mode] = process.argv.slice(2);
const quick = mode === 'quick';
if (!bootstrap || !topic) {
  console.error('usage: kafkajs_client.js BOOTSTRAP TOPIC [quick]');
  process.exit(2);
}

const kafka = new Kafka({
  clientId: 'kgw-capture-kafkajs',
  brokers: [bootstrap],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 3000,
  requestTimeout: 6000,
  retry: { retries: 2, initialRetryTime: 100 },
});
const failed = [];

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    console.log(`  ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  } catch (e) {
    failed.push(name);
    console.log(`  FAIL ${name}: ${e.name}: ${e.message}`);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function messages(tag, n) {
  return Array.from({ length: n }, (_, i) => ({
    key: `${tag}-k${i}`,
    value: `${tag}-value-${i}`,
    partition: i % 2,
    headers: { h1: 'v1', seq: String(i) },
  }));
}

async function main() {
  const { version } = require('kafkajs/package.json');
  console.log(`kafkajs ${version}`);

  if (!quick) await step('admin listTopics/fetchTopicMetadata/describeCluster', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await admin.listTopics();
      await admin.fetchTopicMetadata({ topics: [topic] });
      await admin.describeCluster();
      await admin.fetchTopicOffsets(topic);
    } finally {
      await admin.disconnect();
    }
  });

  await step('producer plain + gzip', async () => {
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    try {
      await producer.send({ topic, messages: messages('plain', 4) });
      await producer.send({ topic, acks: 1, compression: CompressionTypes.GZIP,
        messages: messages('gzip', 4) });
      await producer.sendBatch({ topicMessages: [{ topic, messages: messages('batch', 2) }] });
    } finally {
      await producer.disconnect();
    }
  });

  await step('producer idempotent', async () => {
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      await producer.send({ topic, acks: -1, messages: messages('idem', 3) });
    } finally {
      await producer.disconnect();
    }
  });

  await step('producer transactional commit + abort', async () => {
    const producer = kafka.producer({ transactionalId: 'kgw-capture-kafkajs-txn',
      idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      let txn = await producer.transaction();
      await txn.send({ topic, messages: messages('txn', 2) });
      await txn.sendOffsets({ consumerGroupId: 'kgw-capture-kafkajs',
        topics: [{ topic, partitions: [{ partition: 0, offset: '1' }] }] });
      await txn.commit();
      txn = await producer.transaction();
      await txn.send({ topic, messages: messages('aborted', 1) });
      await txn.abort();
    } finally {
      await producer.disconnect();
    }
  });

  await step('consumer group with commits', async () => {
    const consumer = kafka.consumer({ groupId: 'kgw-capture-kafkajs', heartbeatInterval: 300,
      sessionTimeout: 6000, rebalanceTimeout: 6000, maxWaitTimeInMs: 200 });
    await consumer.connect();
    let got = 0;
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ topic: t, partition, message }) => {
          got += 1;
          await consumer.commitOffsets([{ topic: t, partition,
            offset: (BigInt(message.offset) + 1n).toString() }]);
        },
      });
      const deadline = Date.now() + 12000;
      while (got < 6 && Date.now() < deadline) await sleep(100);
      await sleep(800); // a few heartbeats
    } finally {
      await consumer.disconnect();
    }
    if (got < 6) throw new Error(`got ${got} of 6 messages`);
  });

  if (!quick) await step('admin group offsets/listGroups/describeGroups', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const errs = [];
      const calls = [
        ['fetchOffsets', () => admin.fetchOffsets({ groupId: 'kgw-capture-kafkajs', topics: [topic] })],
        ['listGroups', () => admin.listGroups()],
        ['describeGroups', () => admin.describeGroups(['kgw-capture-kafkajs'])],
        ['createTopics', () => admin.createTopics({ waitForLeaders: false,
          topics: [{ topic: 'kgw-capture-kafkajs-created', numPartitions: 2 }] })],
        ['describeConfigs', () => admin.describeConfigs({ includeSynonyms: false,
          resources: [{ type: 2, name: topic }] })],
        ['deleteTopics', () => admin.deleteTopics({ topics: ['kgw-capture-kafkajs-created'],
          timeout: 2000 })],
      ];
      for (const [name, call] of calls) {
        try {
          await call();
        } catch (e) {
          errs.push(`${name} (${e.name})`);
        }
      }
      if (errs.length) throw new Error(`admin calls failed: ${errs.join(', ')}`);
    } finally {
      await admin.disconnect();
    }
  });

  if (failed.length) console.log(`failed steps: ${failed.join(', ')}`);
}

main().then(() => process.exit(0), (e) => {
  console.error(`fatal: ${e.stack || e}`);
  process.exit(1);
});
