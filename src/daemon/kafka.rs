//! A Kafka source: one consumer in a consumer group, one engine (shard) per assigned partition.
//!
//! At-least-once with exactly-once findings:
//! - auto-commit is off; after a partition's records are processed and its shard checkpointed
//!   (state + next offset, atomically), that offset is committed. A failed record is reported
//!   and skipped, never committed past unprocessed.
//! - revoke: the partition's shard emits, checkpoints and commits synchronously, then is dropped.
//! - assign: the partition's shard is restored from the state directory when its snapshot is at
//!   or past the group's committed offset (same instance, or instances sharing the state
//!   directory), and reading starts at the snapshot's offset; otherwise the shard starts empty
//!   at the committed offset.
//!
//! Correlation state is per partition, so the topic must be keyed by what detectors group by
//! (credential or principal): see the README.
//!
//! Watermarks: each partition's engine has its own. The source's watermark is the minimum over
//! active partitions; a partition with no records for `idle_timeout` is left out of it and its
//! engine is moved up to it, so its pending checks are decided.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::publish::Publisher;
use super::shard::Shard;
use super::Shared;
use crate::config::{KafkaSource, Source};
use crate::decode::{DecodeError, Decoder, InputError, Reason};
use crate::event::{Millis, Origin};
use crate::replay::{Batch, DecodeOptions};
use crate::telemetry::metrics;

const POLL: Duration = Duration::from_millis(100);
/// How often the consumer loop looks after its shards while records stream in.
const MAINTAIN: Duration = Duration::from_millis(20);

const COMMIT_TIMEOUT: Duration = Duration::from_secs(10);

/// One assigned partition.
struct Part {
    /// the topic's name, shared by the origins of its records
    topic: Arc<str>,
    shard: Shard,
    /// the next offset to read: everything before it is processed
    next: i64,
    decoder: Decoder,
    generation: u64,
}

/// Everything the consumer loop and the rebalance callbacks share.
struct State {
    shared: Arc<Shared>,
    source: String,
    parts: BTreeMap<(String, i32), Part>,
    dec_opts: DecodeOptions,
    /// the detector generation `dec_opts` was made from
    generation: u64,
    /// set when a rebalance callback could not do its job (reported by the loop)
    fatal: Option<String>,
    /// processing failed: partitions are dropped without checkpoint or commit
    abandon: bool,
}

struct Ctx {
    state: Arc<Mutex<State>>,
    source: String,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ClientContext for Ctx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        crate::telemetry::librdkafka_log(level, fac, log_message);
    }

    /// librdkafka's statistics (every `statistics.interval.ms`): consumer lag per partition.
    fn stats(&self, s: rdkafka::Statistics) {
        let lag = &metrics().kafka_lag;
        for (topic, t) in &s.topics {
            for (partition, p) in &t.partitions {
                // -1: the internal unassigned partition; a negative lag: not consumed here
                if *partition < 0 || p.consumer_lag < 0 {
                    continue;
                }
                lag.with_label_values(&[&self.source, topic, &partition.to_string()])
                    .set(p.consumer_lag);
            }
        }
    }
}

impl ConsumerContext for Ctx {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.assign(consumer, tpl);
                let r = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(e) = r {
                    lock(&self.state).fatal = Some(format!("assign failed: {e}"));
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.revoke(consumer, tpl);
                let r = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = r {
                    tracing::error!("unassign failed: {e}");
                }
            }
            other => {
                tracing::error!("rebalance error: {other:?}");
                let _ = consumer.unassign();
            }
        }
    }
}

impl Ctx {
    /// Restore each new partition's shard and start reading where its state ends.
    fn assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let mut st = lock(&self.state);
        let committed = consumer
            .committed_offsets(tpl.clone(), COMMIT_TIMEOUT)
            .unwrap_or_else(|e| {
                tracing::warn!("cannot fetch committed offsets ({e}); trusting local state");
                TopicPartitionList::new()
            });
        let wanted: Vec<(String, i32)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        for (topic, partition) in wanted {
            let committed_at =
                committed
                    .find_partition(&topic, partition)
                    .and_then(|e| match e.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    });
            match st.open_part(&topic, partition, committed_at) {
                Ok(Some(start)) => {
                    if let Err(e) =
                        tpl.set_partition_offset(&topic, partition, Offset::Offset(start))
                    {
                        tracing::error!("cannot start {topic}[{partition}] at {start}: {e}");
                    }
                }
                Ok(None) => {}
                Err(e) => st.fatal = Some(format!("{topic}[{partition}]: state: {e}")),
            }
        }
        metrics()
            .kafka_rebalances
            .with_label_values(&[&st.source, "assign"])
            .inc();
        tracing::info!(
            source = %st.source,
            partitions = %describe(tpl),
            "partitions assigned"
        );
    }

    /// Finish each revoked partition: emit, checkpoint, commit, forget.
    fn revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let mut st = lock(&self.state);
        if st.abandon {
            st.parts.clear();
            return;
        }
        let mut commit = TopicPartitionList::new();
        for e in tpl.elements() {
            let key = (e.topic().to_string(), e.partition());
            let Some(mut part) = st.parts.remove(&key) else {
                continue;
            };
            if let Err(err) = part.shard.checkpoint(&part.next) {
                // not committed: the next owner re-reads from the last commit
                tracing::error!("{}[{}]: checkpoint at revoke failed: {err}", key.0, key.1);
                continue;
            }
            if part.next < 0 {
                continue;
            }
            let _ = commit.add_partition_offset(&key.0, key.1, Offset::Offset(part.next));
        }
        if commit.count() > 0 {
            if let Err(e) = consumer.commit(&commit, CommitMode::Sync) {
                tracing::error!("commit at revoke failed: {e}");
            }
        }
        metrics()
            .kafka_rebalances
            .with_label_values(&[&st.source, "revoke"])
            .inc();
        for e in tpl.elements() {
            let _ = metrics().kafka_lag.remove_label_values(&[
                &st.source,
                e.topic(),
                &e.partition().to_string(),
            ]);
        }
        tracing::info!(source = %st.source, partitions = %describe(tpl), "partitions revoked");
    }
}

impl State {
    /// Open a partition's shard; returns the offset to start at when its snapshot is used.
    fn open_part(
        &mut self,
        topic: &str,
        partition: i32,
        committed: Option<i64>,
    ) -> std::io::Result<Option<i64>> {
        let name = format!("{topic}-{partition}");
        let (mut shard, saved) = Shard::open::<i64>(&self.shared, &self.source, &name)?;
        let start = match (saved, committed) {
            (Some(s), Some(c)) if s < c => {
                // another instance went further without sharing its state: its findings are
                // out, ours would repeat them; start afresh at the group's offset
                tracing::warn!(
                    "{name}: local state ends at offset {s}, the group committed {c}: starting this partition's state afresh"
                );
                let fresh = Shard::fresh(&self.shared, &self.source, &name)?;
                shard = fresh;
                None
            }
            // a snapshot taken before the first record read gives no position
            (Some(s), _) if s >= 0 => Some(s),
            _ => None,
        };
        let next = start.or(committed).unwrap_or(-1);
        let loaded = self.shared.loaded();
        self.parts.insert(
            (topic.to_string(), partition),
            Part {
                topic: Arc::from(topic),
                shard,
                next,
                decoder: self.dec_opts.decoder(),
                generation: loaded.generation,
            },
        );
        Ok(start)
    }
}

fn describe(tpl: &TopicPartitionList) -> String {
    tpl.elements()
        .iter()
        .map(|e| format!("{}[{}]", e.topic(), e.partition()))
        .collect::<Vec<_>>()
        .join(",")
}

fn consumer(source: &Source, k: &KafkaSource, ctx: Ctx) -> KafkaResult<BaseConsumer<Ctx>> {
    let mut cfg = ClientConfig::new();
    cfg.set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("partition.assignment.strategy", "range,roundrobin")
        .set("client.id", format!("bypassd-{}", source.name))
        // consumer lag per partition for the metrics (ClientContext::stats)
        .set("statistics.interval.ms", "5000")
        // some Kafka-protocol brokers (tansu) hold every fetch for the whole wait even with data
        // ready: with librdkafka's 500 ms default the daemon consumed ~17,000 records/s there,
        // with 50 ms ~72,000, with 10 ms ~98,000 (`cargo bench --bench kafka`; 5 ms gained
        // nothing more). Kafka answers as soon as data is ready either way; an idle consumer
        // sends each broker 100 empty fetches a second. Overridable in `client`.
        .set("fetch.wait.max.ms", "10");
    for (key, v) in &k.client {
        cfg.set(key, v);
    }
    cfg.set("bootstrap.servers", &k.brokers)
        .set("group.id", &k.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("fetch.message.max.bytes", k.max_message_bytes.to_string());
    cfg.create_with_context(ctx)
}

pub fn run(shared: &Arc<Shared>, source: &Source, k: &KafkaSource) -> Result<(), String> {
    let state = Arc::new(Mutex::new(State {
        shared: shared.clone(),
        source: source.name.clone(),
        parts: BTreeMap::new(),
        dec_opts: shared
            .loaded()
            .decode_options(source.format.as_deref(), k.max_message_bytes),
        generation: shared.loaded().generation,
        fatal: None,
        abandon: false,
    }));
    let consumer = consumer(
        source,
        k,
        Ctx {
            state: state.clone(),
            source: source.name.clone(),
        },
    )
    .map_err(|e| format!("kafka client: {e}"))?;
    let topics: Vec<&str> = k.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| format!("subscribe {topics:?}: {e}"))?;
    shared.set_ready(&source.name, true);
    for kind in ["assign", "revoke"] {
        metrics()
            .kafka_rebalances
            .with_label_values(&[&source.name, kind]);
    }
    let result = consume(shared, source, k, &consumer, &state);
    if result.is_err() {
        // something was not processed (a sink failed): commit nothing past the last checkpoint,
        // the records after it are read again at the next start
        lock(&state).abandon = true;
        consumer.unsubscribe();
        return result;
    }
    // stopping: finish every partition still held
    let mut st = lock(&state);
    let mut commit = TopicPartitionList::new();
    for ((topic, partition), part) in st.parts.iter_mut() {
        match part.shard.checkpoint(&part.next) {
            Ok(()) if part.next < 0 => {}
            Ok(()) => {
                let _ = commit.add_partition_offset(topic, *partition, Offset::Offset(part.next));
            }
            Err(e) => tracing::error!("{topic}[{partition}]: checkpoint at stop failed: {e}"),
        }
    }
    st.parts.clear();
    drop(st);
    if commit.count() > 0 {
        if let Err(e) = consumer.commit(&commit, CommitMode::Sync) {
            tracing::error!("commit at stop failed: {e}");
        }
    }
    consumer.unsubscribe();
    tracing::info!(source = %source.name, "kafka source stopped");
    result
}

fn consume(
    shared: &Arc<Shared>,
    source: &Source,
    k: &KafkaSource,
    consumer: &BaseConsumer<Ctx>,
    state: &Mutex<State>,
) -> Result<(), String> {
    let mut errors = Vec::new();
    let idle = Duration::from_millis(shared.config.idle_timeout as u64);
    let records_read = metrics().records_read.with_label_values(&[&source.name]);
    let bytes_read = metrics().bytes_read.with_label_values(&[&source.name]);
    let mut maintained = Instant::now();
    let mut msgs = Vec::with_capacity(BATCH);
    while !shared.stopping() {
        // what is ready, up to BATCH messages (waiting up to POLL for the first)
        msgs.clear();
        match consumer.poll(POLL) {
            Some(Ok(m)) => msgs.push(m),
            Some(Err(e)) => tracing::warn!(source = %source.name, "kafka: {e}"),
            None => {}
        }
        while !msgs.is_empty() && msgs.len() < BATCH {
            match consumer.poll(Duration::ZERO) {
                Some(Ok(m)) => msgs.push(m),
                Some(Err(e)) => {
                    tracing::warn!(source = %source.name, "kafka: {e}");
                    break;
                }
                None => break,
            }
        }
        let streaming = !msgs.is_empty();
        let mut st = lock(state);
        if let Some(e) = st.fatal.take() {
            return Err(e);
        }
        let loaded = shared.loaded();
        if st.generation != loaded.generation {
            st.generation = loaded.generation;
            st.dec_opts = loaded.decode_options(source.format.as_deref(), k.max_message_bytes);
        }
        if streaming {
            records_read.inc_by(msgs.len() as u64);
            bytes_read.inc_by(msgs.iter().map(|m| m.payload_len() as u64).sum());
            let st = &mut *st;
            // each assigned partition's messages, in offset order
            let mut jobs: Vec<Job> = st
                .parts
                .iter_mut()
                .map(|((_, partition), part)| Job {
                    partition: *partition,
                    upto: part.next,
                    part,
                    msgs: Vec::new(),
                    errors: Vec::new(),
                })
                .collect();
            for m in &msgs {
                let (topic, partition) = (m.topic(), m.partition());
                match jobs
                    .iter_mut()
                    .find(|j| j.partition == partition && &*j.part.topic == topic)
                {
                    // a rebalance during the polling can rewind the partition to its last
                    // checkpoint: offsets already taken (in an earlier batch or earlier in this
                    // one) are fetched again and must not be processed twice
                    Some(j) if m.offset() < j.upto => tracing::debug!(
                        "{topic}[{partition}]@{}: already taken, skipped",
                        m.offset()
                    ),
                    Some(j) => {
                        j.upto = m.offset() + 1;
                        j.msgs.push((m.payload(), m.offset()));
                    }
                    // not ours (a rebalance in flight): not committed, the owner reads it
                    None => tracing::debug!(
                        "{topic}[{partition}]@{}: partition not assigned here",
                        m.offset()
                    ),
                }
            }
            jobs.retain(|j| !j.msgs.is_empty());
            for j in &mut jobs {
                if j.part.generation != loaded.generation {
                    j.part.decoder = st.dec_opts.decoder();
                    j.part.generation = loaded.generation;
                }
            }
            run_jobs(&mut jobs, &st.dec_opts, k.max_message_bytes);
            for j in &mut jobs {
                errors.append(&mut j.errors);
            }
        }
        super::report_errors(shared, &source.name, &mut errors);
        let now = Instant::now();
        // the shards' upkeep (findings to the sinks, idle watermarks, checkpoints and commits,
        // gauges) at most every MAINTAIN while records stream in, and whenever the topic is quiet
        if streaming && now.duration_since(maintained) < MAINTAIN {
            continue;
        }
        maintained = now;
        // the source's watermark: the minimum over partitions that are not idle
        let active_min: Option<Millis> = st
            .parts
            .values()
            .filter(|p| p.shard.idle_for(now) < idle)
            .map(|p| p.shard.engine.watermark())
            .min();
        let mut commit = TopicPartitionList::new();
        for ((topic, partition), part) in st.parts.iter_mut() {
            part.shard.tick(now);
            if let Some(wm) = active_min {
                if part.shard.idle_for(now) >= idle && wm > Millis::MIN {
                    part.shard.advance_idle(wm);
                }
            }
            part.shard.emit().map_err(|e| format!("sink: {e}"))?;
            if part.shard.checkpoint_due(now) {
                part.shard
                    .checkpoint(&part.next)
                    .map_err(|e| format!("{topic}[{partition}]: checkpoint: {e}"))?;
                if part.next >= 0 {
                    let _ =
                        commit.add_partition_offset(topic, *partition, Offset::Offset(part.next));
                }
            }
        }
        if let Some(wm) = active_min {
            shared.counters.watermark.store(wm, Ordering::Relaxed);
            Publisher::watermark(&source.name, wm);
        }
        // the oldest unsaved state over the partitions
        let unsaved = st.parts.values().map(|p| p.shard.unsaved_for(now)).max();
        metrics()
            .checkpoint_age
            .with_label_values(&[&source.name])
            .set(unsaved.unwrap_or_default().as_secs_f64());
        drop(st);
        if commit.count() > 0 {
            if let Err(e) = consumer.commit(&commit, CommitMode::Async) {
                tracing::warn!(source = %source.name, "commit: {e}");
            }
        }
    }
    Ok(())
}

/// Messages taken from the consumer per loop at most.
const BATCH: usize = 2048;
/// Messages decoded per hand-over from a decode thread to the engine.
const CHUNK: usize = 128;

/// A message as a batch holds it: (payload, offset).
type Msg<'a> = (Option<&'a [u8]>, i64);

/// One partition's messages of a batch: (payload, offset), in offset order.
struct Job<'a> {
    partition: i32,
    /// the next offset this batch takes (lower ones were processed already)
    upto: i64,
    part: &'a mut Part,
    msgs: Vec<Msg<'a>>,
    errors: Vec<InputError>,
}

/// Decode and correlate a batch. librdkafka hands out long runs of one partition, so the work is
/// split by stage and by chunk, not by partition: two threads decode alternate chunks while this
/// one pushes the decoded records into the partitions' engines in offset order, a chunk or two
/// behind. A small batch (a quiet topic) is done here alone.
fn run_jobs(jobs: &mut [Job], dec: &DecodeOptions, max_bytes: usize) {
    let total: usize = jobs.iter().map(|j| j.msgs.len()).sum();
    if total <= CHUNK {
        for j in jobs {
            let mut batch = Batch::default();
            let part = &mut *j.part;
            for &m in &j.msgs {
                decode_one(
                    dec,
                    &part.decoder,
                    &part.topic,
                    j.partition,
                    m,
                    max_bytes,
                    &mut batch,
                );
                for r in batch.records.drain(..) {
                    part.shard.push(r);
                }
                part.next = m.1 + 1;
            }
            j.errors.append(&mut batch.errors);
        }
        return;
    }
    // the chunks in order: (job, its messages); chunk k is decoded by thread k % 2 (a record
    // decodes the same whichever thread and chunk it falls in) and pushed in order
    let mut units: Vec<(usize, &[Msg])> = Vec::new();
    let mut engine_side = Vec::new();
    let mut decoders: Vec<(&Decoder, &Arc<str>, i32)> = Vec::new();
    for (i, j) in jobs.iter_mut().enumerate() {
        units.extend(j.msgs.chunks(CHUNK).map(|c| (i, c)));
        let Part {
            topic,
            shard,
            next,
            decoder,
            ..
        } = &mut *j.part;
        decoders.push((&*decoder, &*topic, j.partition));
        engine_side.push((shard, next, &mut j.errors));
    }
    std::thread::scope(|s| {
        let mut rxs = Vec::with_capacity(2);
        for t in 0..2 {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(2);
            rxs.push(rx);
            let (units, decoders) = (&units, &decoders);
            s.spawn(move || {
                for &(i, chunk) in units.iter().skip(t).step_by(2) {
                    let (decoder, topic, partition) = decoders[i];
                    let mut batch = Batch::default();
                    for &m in chunk {
                        decode_one(dec, decoder, topic, partition, m, max_bytes, &mut batch);
                    }
                    if tx.send(batch).is_err() {
                        return;
                    }
                }
            });
        }
        for (k, &(i, chunk)) in units.iter().enumerate() {
            let Ok(mut batch) = rxs[k % 2].recv() else {
                return;
            };
            let (shard, n, errors) = &mut engine_side[i];
            for r in batch.records.drain(..) {
                shard.push(r);
            }
            errors.append(&mut batch.errors);
            **n = chunk.last().map_or(**n, |m| m.1 + 1);
        }
    });
}

/// Decode one message of `partition` into `batch` (records, or an error naming its offset).
fn decode_one(
    dec: &DecodeOptions,
    decoder: &Decoder,
    topic: &Arc<str>,
    partition: i32,
    (payload, offset): Msg,
    max_bytes: usize,
    batch: &mut Batch,
) {
    let origin = Origin::Kafka {
        topic: topic.clone(),
        partition,
        offset,
    };
    match payload {
        Some(p) if p.len() > max_bytes => batch.errors.push(InputError {
            origin,
            error: DecodeError::line_too_long(max_bytes),
        }),
        Some(p) if !p.iter().all(u8::is_ascii_whitespace) => {
            dec.one(decoder, batch, p, origin, partition.max(0) as u32)
        }
        _ => batch.errors.push(InputError {
            origin,
            error: DecodeError::new(Reason::MalformedJson, "empty message"),
        }),
    }
}
