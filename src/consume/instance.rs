//! One consumer instance: its librdkafka consumer, its subscription or assignment, and the
//! records fetched from Kafka but not yet handed to the client.
//!
//! This module owns the per-instance state behind one async lock (so two calls on an instance
//! never interleave) and every control operation on it: subscribe, assign, seek, commit and
//! committed offsets. Every librdkafka call that can block runs on the blocking pool, holding a
//! permit of the process-wide bound (`crate::blocking`) and the instance's own turn for
//! blocking calls (see [`blocking`]). Reading records is `reader.rs`; finding, creating and
//! expiring instances is `mod.rs`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::StreamConsumer;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::{Mutex, MutexGuard, Semaphore};

use super::{
    CommittedOffset, ConsumeError, OffsetCommit, SeekPosition, SeekTarget, TopicPartition,
};
use crate::blocking::BlockingCalls;
use crate::records::EmbeddedFormat;

/// Bound on one blocking librdkafka round trip of a control call (commit, committed offsets,
/// seek, offsets for times). Confluent forces the Java consumer's `request.timeout.ms` to the
/// same 30 s.
pub const KAFKA_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The librdkafka consumer of one instance.
pub type KafkaConsumer = StreamConsumer<InstanceContext>;

/// librdkafka callbacks of one instance. Rebalances run inside `recv()`, that is inside a
/// records call holding the instance lock; the partitions they revoke are noted here so that
/// the reader drops buffered records of partitions this instance no longer owns.
#[derive(Default)]
pub struct InstanceContext {
    /// Filled by rebalance callbacks, drained by the reader under the instance lock.
    revoked: StdMutex<Vec<(String, i32)>>,
}

impl InstanceContext {
    fn take_revoked(&self) -> Vec<(String, i32)> {
        match self.revoked.lock() {
            Ok(mut revoked) => std::mem::take(&mut *revoked),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

impl ClientContext for InstanceContext {}

impl ConsumerContext for InstanceContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let mut revoked = match self.revoked.lock() {
                Ok(revoked) => revoked,
                Err(poisoned) => poisoned.into_inner(),
            };
            revoked.extend(
                tpl.elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition())),
            );
        }
    }
}

/// What an instance reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Neither subscribed nor assigned: reading is an illegal state.
    Idle,
    /// Subscribed to a list of topics (group management).
    Topics(Vec<String>),
    /// Subscribed to the topics matching a pattern (group management); the client's pattern.
    Pattern(String),
    /// Manually assigned partitions.
    Assigned,
}

/// Settings fixed when the instance is created.
#[derive(Debug, Clone)]
pub struct InstanceSettings {
    pub format: EmbeddedFormat,
    /// Longest wait of one records call (`consumer.request.timeout.ms`, per instance).
    pub request_timeout: Duration,
    /// Answer a records call once this many bytes are collected; `None` answers as soon as
    /// any record is there.
    pub fetch_min_bytes: Option<u64>,
    /// `auto.commit.enable`: librdkafka commits stored offsets periodically and on close.
    pub auto_commit: bool,
}

/// One consumer instance, shared by the manager's map and the calls in flight.
pub struct Instance {
    pub group: String,
    pub name: String,
    /// Under principal pass-through, the user that created the instance; set once, right
    /// after creation. Only that user's requests find it (`docs/decisions.md` §24).
    pub owner: std::sync::OnceLock<String>,
    pub settings: InstanceSettings,
    /// When a call last used this instance; read by the expiry task.
    last_used: StdMutex<Instant>,
    /// The process-wide permits for blocking librdkafka calls.
    pub(super) blocking: BlockingCalls,
    /// One permit: the instance's turn for a blocking librdkafka call. A call holds it on its
    /// blocking thread until librdkafka returns, even after its caller stopped waiting, so the
    /// next control call, or the close, starts only once an abandoned call has finished.
    turn: Arc<Semaphore>,
    /// Everything a call needs; held for the whole call, so calls on one instance run one
    /// after another. The consumer inside is taken out (set to `None`) when the instance is
    /// deleted or expires, after which every call answers "not found".
    state: Mutex<State>,
}

/// The state behind the instance lock.
pub struct State {
    /// `None` once the instance is closed.
    pub(super) consumer: Option<Arc<KafkaConsumer>>,
    pub(super) mode: Mode,
    /// Records taken from librdkafka but not yet returned, in the order librdkafka gave them.
    /// A record that did not fit a response, or did not decode, waits here for the next call;
    /// a records call cancelled halfway leaves its records here too. Records of partitions
    /// that are sought, revoked or reassigned are dropped, since Kafka will deliver them again
    /// from the new position.
    pub(super) buffer: VecDeque<OwnedMessage>,
    /// librdkafka reported every broker down and nothing has been heard from Kafka since: a records call that finds no record checks whether Kafka is reachable before it
    /// answers `[]`.
    pub(super) broker_trouble: bool,
    /// When a manual assignment was last checked for partitions librdkafka stopped serving
    /// (see [`State::restart_stalled_assignment`]); bounds how often an error event costs a check.
    pub(super) stall_checked: Option<Instant>,
    /// Manually assigned partitions that have delivered no record since the assignment and
    /// were not sought: the only ones whose start, the committed-offset fetch, can stall.
    pub(super) unstarted: Vec<(String, i32)>,
}

impl Instance {
    pub fn new(
        group: String,
        name: String,
        settings: InstanceSettings,
        consumer: KafkaConsumer,
        blocking: BlockingCalls,
    ) -> Instance {
        Instance {
            group,
            name,
            owner: std::sync::OnceLock::new(),
            settings,
            last_used: StdMutex::new(Instant::now()),
            blocking,
            turn: Arc::new(Semaphore::new(1)),
            state: Mutex::new(State {
                consumer: Some(Arc::new(consumer)),
                mode: Mode::Idle,
                buffer: VecDeque::new(),
                broker_trouble: false,
                stall_checked: None,
                unstarted: Vec::new(),
            }),
        }
    }

    /// Marks the instance as used now, pushing its expiry out.
    pub fn touch(&self) {
        let mut last = match self.last_used.lock() {
            Ok(last) => last,
            Err(poisoned) => poisoned.into_inner(),
        };
        *last = Instant::now();
    }

    pub fn idle_for(&self, now: Instant) -> Duration {
        let last = match self.last_used.lock() {
            Ok(last) => *last,
            Err(poisoned) => *poisoned.into_inner(),
        };
        now.saturating_duration_since(last)
    }

    /// Waits for the instance lock; "not found" if the instance was closed meanwhile.
    pub async fn lock(&self) -> Result<MutexGuard<'_, State>, ConsumeError> {
        let state = self.state.lock().await;
        if state.consumer.is_none() {
            return Err(self.not_found());
        }
        Ok(state)
    }

    /// The lock if nobody holds it: the expiry task never waits for a busy instance.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, State>> {
        self.state.try_lock().ok()
    }

    pub fn not_found(&self) -> ConsumeError {
        ConsumeError::InstanceNotFound {
            group: self.group.clone(),
            instance: self.name.clone(),
        }
    }
}

/// Slack on top of [`KAFKA_CALL_TIMEOUT`] for a call whose own librdkafka timeout is that bound.
const BLOCKING_SLACK: Duration = Duration::from_secs(1);

/// Runs a librdkafka call that may block on a blocking thread, and answers within
/// [`KAFKA_CALL_TIMEOUT`] (plus a little slack) even when librdkafka waits longer: a
/// synchronous commit with no coordinator waits ~45 s. The call itself runs on; a commit may
/// still happen after the client was told it timed out (a retriable error: retrying is safe).
///
/// Before it starts, the call waits, within the same deadline, for the instance's turn (an
/// earlier call abandoned this way must have returned: two blocking calls never run at once
/// on one consumer) and for a process-wide permit (`kafka.blocking.calls.max`). Both stay with
/// the call on its blocking thread until librdkafka returns. Records calls do not take the
/// turn: they only await `recv()` on librdkafka's queue, which librdkafka allows alongside a
/// call on another thread, and never start a blocking call on the consumer itself (their
/// reachability check is a metadata request, which changes no consumer state).
pub(super) async fn blocking<T, F>(
    instance: &Instance,
    consumer: &Arc<KafkaConsumer>,
    operation: &'static str,
    f: F,
) -> Result<T, ConsumeError>
where
    T: Send + 'static,
    F: FnOnce(&KafkaConsumer) -> KafkaResult<T> + Send + 'static,
{
    let deadline = Instant::now() + KAFKA_CALL_TIMEOUT + BLOCKING_SLACK;
    let turn =
        match tokio::time::timeout_at(deadline.into(), Arc::clone(&instance.turn).acquire_owned())
            .await
        {
            Ok(Ok(turn)) => turn,
            // The semaphore is never closed; `Err(_)` from it is treated like a busy instance.
            Ok(Err(_)) | Err(_) => return Err(ConsumeError::InstanceBusy { operation }),
        };
    let consumer = Arc::clone(consumer);
    let call = instance
        .blocking
        .spawn(deadline, move || {
            let _turn = turn;
            f(&consumer)
        })
        .await
        .map_err(|source| ConsumeError::Busy { operation, source })?;
    match tokio::time::timeout_at(deadline.into(), call).await {
        Ok(joined) => joined
            .map_err(ConsumeError::Cancelled)?
            .map_err(|source| ConsumeError::Kafka { operation, source }),
        Err(_elapsed) => Err(ConsumeError::Kafka {
            operation,
            source: KafkaError::Global(RDKafkaErrorCode::OperationTimedOut),
        }),
    }
}

/// Commits what auto-commit owes (when on) and closes the consumer, which leaves the group.
/// Runs on a blocking thread: librdkafka's close waits for the group leave. It waits for the
/// instance's turn (an abandoned control call finishes first) and for a blocking-call permit
/// as long as it takes, since a close must happen; the caller waits at most
/// [`KAFKA_CALL_TIMEOUT`] (plus slack) for all of it: with Kafka down, the commit and the
/// leave each wait ~45 s, and a delete should not; the close then finishes in the background.
pub(super) async fn close(instance: &Instance, consumer: Arc<KafkaConsumer>) {
    let auto_commit = instance.settings.auto_commit;
    let turn = Arc::clone(&instance.turn);
    let blocking = instance.blocking.clone();
    let closing = tokio::spawn(async move {
        // Never closed (see `blocking`); without the turn the close still runs.
        let turn = turn.acquire_owned().await.ok();
        blocking
            .spawn_when_free(move || {
                let _turn = turn;
                if auto_commit {
                    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
                        if !is_no_offset(&e) {
                            tracing::warn!(error = %e, "final commit of a consumer instance failed");
                        }
                    }
                }
                // Dropping the last reference closes the consumer (leave group) and frees
                // librdkafka.
                drop(consumer);
            })
            .await
    });
    match tokio::time::timeout(KAFKA_CALL_TIMEOUT + BLOCKING_SLACK, closing).await {
        Ok(Ok(Ok(Some(())))) => {}
        Ok(Ok(Ok(None))) => tracing::warn!("closing a consumer instance failed (it panicked)"),
        Ok(Ok(Err(e))) | Ok(Err(e)) => {
            tracing::warn!(error = %e, "closing a consumer instance failed")
        }
        Err(_elapsed) => tracing::warn!(
            "closing a consumer instance takes longer than {KAFKA_CALL_TIMEOUT:?} (is Kafka \
             reachable?); it goes on in the background"
        ),
    }
}

/// Pause between seek attempts on a partition librdkafka is not fetching yet.
const SEEK_RETRY: Duration = Duration::from_millis(20);

/// Seeks partitions, waiting (up to [`KAFKA_CALL_TIMEOUT`]) for those librdkafka does not fetch
/// yet: right after an assignment it first looks up the committed offset, and refuses a seek
/// (`_STATE`) until then. Runs on a blocking thread.
fn seek_when_fetching(
    consumer: &KafkaConsumer,
    mut pending: Vec<(TopicPartition, Offset)>,
) -> KafkaResult<()> {
    let deadline = Instant::now() + KAFKA_CALL_TIMEOUT;
    loop {
        let mut tpl = TopicPartitionList::new();
        for (tp, offset) in &pending {
            tpl.add_partition_offset(&tp.topic, tp.partition, *offset)?;
        }
        let remaining = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        let result = consumer.seek_partitions(tpl, remaining)?;
        let mut retry = Vec::new();
        for elem in result.elements() {
            match elem.error() {
                Ok(()) => {}
                Err(KafkaError::OffsetFetch(RDKafkaErrorCode::State))
                    if Instant::now() < deadline =>
                {
                    let tp = TopicPartition {
                        topic: elem.topic().to_string(),
                        partition: elem.partition(),
                    };
                    if let Some(p) = pending.iter().find(|(p, _)| *p == tp) {
                        retry.push(p.clone());
                    }
                }
                Err(e) => {
                    return Err(KafkaError::Seek(format!(
                        "{}-{}: {}",
                        elem.topic(),
                        elem.partition(),
                        e.rdkafka_error_code()
                            .map_or_else(|| e.to_string(), |c| c.to_string())
                    )))
                }
            }
        }
        if retry.is_empty() {
            return Ok(());
        }
        pending = retry;
        // A blocking thread (see `blocking`), not a runtime worker.
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(SEEK_RETRY);
    }
}

/// librdkafka's "nothing to commit", which is not a failure for us.
pub(super) fn is_no_offset(e: &KafkaError) -> bool {
    e.rdkafka_error_code() == Some(RDKafkaErrorCode::NoOffset)
}

/// Least time between two checks for stalled partitions of a manual assignment: error events
/// repeat while a broker is down, and each check is a blocking librdkafka call.
const STALL_CHECK_INTERVAL: Duration = Duration::from_secs(2);

const MUTUALLY_EXCLUSIVE: &str =
    "Subscription to topics, partitions and pattern are mutually exclusive";

impl State {
    /// The consumer; an open instance always has one (checked by [`Instance::lock`]).
    pub(super) fn consumer(&self, instance: &Instance) -> Result<Arc<KafkaConsumer>, ConsumeError> {
        self.consumer.clone().ok_or_else(|| instance.not_found())
    }

    /// Assigns again the partitions of a manual assignment that have no read position, keeping
    /// the position of every other partition. Returns whether it did.
    ///
    /// librdkafka starts a manually assigned partition only after it has fetched the group's
    /// committed offset for it. When that OffsetFetch fails (the group coordinator is being
    /// created or moved, which a fresh cluster or a broker failure causes), librdkafka reports
    /// one error event and leaves the partition assigned but never fetched, "until the
    /// application unassigns it and possibly re-assigns it" (its own comment): the instance
    /// would answer `[]` forever. A records call that sees an error event therefore checks, at
    /// most once per [`STALL_CHECK_INTERVAL`], whether an assigned partition still has no
    /// position, and assigns the whole set again: the partitions with a position resume exactly
    /// there (records already taken into the buffer are not fetched twice), the others ask for
    /// the committed offset again (`auto.offset.reset` when there is none). Only partitions that
    /// have delivered nothing since the assignment and were not sought are candidates: a
    /// partition without a position after a seek is resolving it, not stalled.
    pub(super) async fn restart_stalled_assignment(
        &mut self,
        instance: &Instance,
    ) -> Result<bool, ConsumeError> {
        if self.mode != Mode::Assigned
            || self.unstarted.is_empty()
            || self
                .stall_checked
                .is_some_and(|at| at.elapsed() < STALL_CHECK_INTERVAL)
        {
            return Ok(false);
        }
        self.stall_checked = Some(Instant::now());
        let consumer = self.consumer(instance)?;
        let unstarted = self.unstarted.clone();
        blocking(instance, &consumer, "assign", move |c| {
            let positions = c.position()?;
            let elements = positions.elements();
            let stalled = |e: &rdkafka::topic_partition_list::TopicPartitionListElem<'_>| {
                e.offset() == Offset::Invalid
                    && unstarted
                        .iter()
                        .any(|(t, p)| t == e.topic() && *p == e.partition())
            };
            if !elements.iter().any(stalled) {
                return Ok(false);
            }
            let mut again = TopicPartitionList::new();
            for e in &elements {
                let offset = if stalled(e) {
                    Offset::Stored
                } else {
                    e.offset()
                };
                again.add_partition_offset(e.topic(), e.partition(), offset)?;
            }
            c.assign(&again)?;
            Ok(true)
        })
        .await
    }

    /// Drops buffered records of partitions a rebalance revoked. Returns how many were dropped.
    pub(super) fn drop_revoked(&mut self) -> usize {
        let Some(consumer) = self.consumer.as_ref() else {
            return 0;
        };
        let revoked = consumer.context().take_revoked();
        if revoked.is_empty() {
            return 0;
        }
        self.drop_buffered(|topic, partition| {
            revoked.iter().any(|(t, p)| t == topic && *p == partition)
        })
    }

    fn drop_buffered(&mut self, mut matches: impl FnMut(&str, i32) -> bool) -> usize {
        let before = self.buffer.len();
        self.buffer.retain(|m| !matches(m.topic(), m.partition()));
        before - self.buffer.len()
    }

    /// Subscribes to a list of topics (an empty list unsubscribes, as in Kafka).
    pub async fn subscribe_topics(
        &mut self,
        instance: &Instance,
        mut topics: Vec<String>,
    ) -> Result<(), ConsumeError> {
        if topics.is_empty() {
            return self.unsubscribe(instance).await;
        }
        if self.mode == Mode::Assigned {
            return Err(ConsumeError::IllegalState {
                message: MUTUALLY_EXCLUSIVE.into(),
            });
        }
        topics.sort();
        topics.dedup();
        let consumer = self.consumer(instance)?;
        let names = topics.clone();
        blocking(instance, &consumer, "subscribe", move |c| {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            c.subscribe(&refs)
        })
        .await?;
        self.buffer.clear();
        self.mode = Mode::Topics(topics);
        Ok(())
    }

    /// Subscribes to every topic whose whole name matches `pattern` (Java `Pattern.matches`).
    pub async fn subscribe_pattern(
        &mut self,
        instance: &Instance,
        pattern: String,
    ) -> Result<(), ConsumeError> {
        if self.mode == Mode::Assigned {
            return Err(ConsumeError::IllegalState {
                message: MUTUALLY_EXCLUSIVE.into(),
            });
        }
        // Validate here, so a bad pattern is the client's error and not a silent nothing.
        anchored_pattern(&pattern)?;
        let consumer = self.consumer(instance)?;
        // librdkafka treats a topic starting with `^` as a regular expression. Its engine has
        // no `(?:`, so the anchoring group captures; a pattern it cannot compile is refused.
        let regex = format!("^({pattern})$");
        match blocking(instance, &consumer, "subscribe", move |c| {
            c.subscribe(&[regex.as_str()])
        })
        .await
        {
            // librdkafka refuses a subscription locally only for an invalid argument.
            Err(ConsumeError::Kafka {
                source: KafkaError::Subscription(_),
                ..
            }) => {
                return Err(ConsumeError::PatternRejected { pattern });
            }
            other => other?,
        }
        self.buffer.clear();
        self.mode = Mode::Pattern(pattern);
        Ok(())
    }

    /// Ends a subscription or a manual assignment (Java `unsubscribe()` does both).
    pub async fn unsubscribe(&mut self, instance: &Instance) -> Result<(), ConsumeError> {
        let consumer = self.consumer(instance)?;
        match self.mode {
            Mode::Idle => {}
            Mode::Topics(_) | Mode::Pattern(_) => {
                blocking(instance, &consumer, "unsubscribe", |c| {
                    c.unsubscribe();
                    Ok(())
                })
                .await?
            }
            Mode::Assigned => blocking(instance, &consumer, "unassign", |c| c.unassign()).await?,
        }
        self.buffer.clear();
        self.unstarted.clear();
        self.mode = Mode::Idle;
        Ok(())
    }

    /// Manually assigns partitions; reading starts at the committed offsets (or
    /// `auto.offset.reset`). An empty list ends the assignment.
    pub async fn assign(
        &mut self,
        instance: &Instance,
        partitions: Vec<TopicPartition>,
    ) -> Result<(), ConsumeError> {
        if matches!(self.mode, Mode::Topics(_) | Mode::Pattern(_)) {
            return Err(ConsumeError::IllegalState {
                message: MUTUALLY_EXCLUSIVE.into(),
            });
        }
        if partitions.is_empty() {
            return self.unsubscribe(instance).await;
        }
        let consumer = self.consumer(instance)?;
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition(&p.topic, p.partition);
        }
        blocking(instance, &consumer, "assign", move |c| c.assign(&tpl)).await?;
        self.buffer.clear();
        self.unstarted = partitions
            .iter()
            .map(|p| (p.topic.clone(), p.partition))
            .collect();
        self.mode = Mode::Assigned;
        Ok(())
    }

    /// The partitions assigned to this instance, by hand or by the group.
    pub async fn assignment(
        &self,
        instance: &Instance,
    ) -> Result<Vec<TopicPartition>, ConsumeError> {
        let consumer = self.consumer(instance)?;
        let tpl = blocking(instance, &consumer, "assignment", |c| c.assignment()).await?;
        let mut out: Vec<TopicPartition> = tpl
            .elements()
            .iter()
            .map(|e| TopicPartition {
                topic: e.topic().to_string(),
                partition: e.partition(),
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Moves the read position of assigned partitions. Buffered records of those partitions
    /// are dropped first, so the next read starts exactly at the new position.
    pub async fn seek(
        &mut self,
        instance: &Instance,
        targets: Vec<SeekTarget>,
    ) -> Result<(), ConsumeError> {
        // A sought partition starts where it was sent, not from a committed-offset fetch.
        self.unstarted.clear();
        let assigned = self.assignment(instance).await?;
        for t in &targets {
            if !assigned.contains(&t.partition) {
                return Err(ConsumeError::IllegalState {
                    message: format!(
                        "No current assignment for partition {}-{}",
                        t.partition.topic, t.partition.partition
                    ),
                });
            }
        }
        let consumer = self.consumer(instance)?;
        let positions = blocking(instance, &consumer, "seek", move |c| {
            let mut resolved = Vec::with_capacity(targets.len());
            let mut by_time = TopicPartitionList::new();
            for t in &targets {
                if let SeekPosition::Timestamp(ms) = t.position {
                    by_time.add_partition_offset(
                        &t.partition.topic,
                        t.partition.partition,
                        Offset::Offset(ms),
                    )?;
                }
            }
            let times = if by_time.count() > 0 {
                Some(c.offsets_for_times(by_time, KAFKA_CALL_TIMEOUT)?)
            } else {
                None
            };
            for t in targets {
                let offset = match t.position {
                    SeekPosition::Offset(o) => Offset::Offset(o),
                    SeekPosition::Beginning => Offset::Beginning,
                    SeekPosition::End => Offset::End,
                    SeekPosition::Timestamp(_) => {
                        let found = times.as_ref().and_then(|tpl| {
                            tpl.find_partition(&t.partition.topic, t.partition.partition)
                                .map(|e| e.offset())
                        });
                        match found {
                            // No record at or after the time: read from the end.
                            Some(Offset::Offset(o)) if o >= 0 => Offset::Offset(o),
                            _ => Offset::End,
                        }
                    }
                };
                resolved.push((t.partition, offset));
            }
            Ok(resolved)
        })
        .await?;
        self.drop_buffered(|topic, partition| {
            positions
                .iter()
                .any(|(tp, _)| tp.topic == topic && tp.partition == partition)
        });
        blocking(instance, &consumer, "seek", move |c| {
            seek_when_fetching(c, positions)
        })
        .await
    }

    /// Commits offsets synchronously. With entries, each commits `offset + 1` (Confluent);
    /// without, the offsets of every record returned so far are committed.
    pub async fn commit(
        &self,
        instance: &Instance,
        offsets: Option<Vec<OffsetCommit>>,
    ) -> Result<(), ConsumeError> {
        let consumer = self.consumer(instance)?;
        match offsets {
            None => {
                blocking(instance, &consumer, "commit", |c| {
                    match c.commit_consumer_state(CommitMode::Sync) {
                        Err(e) if is_no_offset(&e) => Ok(()),
                        other => other,
                    }
                })
                .await
            }
            Some(offsets) if offsets.is_empty() => Ok(()),
            Some(offsets) => {
                let mut tpl = TopicPartitionList::new();
                for o in &offsets {
                    // Kafka offsets are never negative; -1 commits 0, as in Confluent.
                    let next = o
                        .offset
                        .checked_add(1)
                        .filter(|next| *next >= 0)
                        .ok_or_else(|| ConsumeError::InvalidOffset {
                            topic: o.partition.topic.clone(),
                            partition: o.partition.partition,
                            offset: o.offset,
                        })?;
                    let mut elem = tpl.add_partition(&o.partition.topic, o.partition.partition);
                    elem.set_offset(Offset::Offset(next)).map_err(|source| {
                        ConsumeError::Kafka {
                            operation: "commit",
                            source,
                        }
                    })?;
                    if let Some(metadata) = &o.metadata {
                        elem.set_metadata(metadata.as_str());
                    }
                }
                blocking(instance, &consumer, "commit", move |c| {
                    c.commit(&tpl, CommitMode::Sync)
                })
                .await
            }
        }
    }

    /// The group's committed offsets of `partitions`; partitions without one are left out.
    pub async fn committed(
        &self,
        instance: &Instance,
        partitions: Vec<TopicPartition>,
    ) -> Result<Vec<CommittedOffset>, ConsumeError> {
        if partitions.is_empty() {
            return Ok(Vec::new());
        }
        let consumer = self.consumer(instance)?;
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition(&p.topic, p.partition);
        }
        let tpl = blocking(instance, &consumer, "committed offsets", move |c| {
            c.committed_offsets(tpl, KAFKA_CALL_TIMEOUT)
        })
        .await?;
        Ok(tpl
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(offset) => Some(CommittedOffset {
                    partition: TopicPartition {
                        topic: e.topic().to_string(),
                        partition: e.partition(),
                    },
                    offset,
                    metadata: e.metadata().to_string(),
                }),
                _ => None,
            })
            .collect())
    }
}

impl Drop for State {
    fn drop(&mut self) {
        // Closing librdkafka blocks; never do it on a runtime worker thread. This runs only
        // for an instance dropped without a close (delete, expiry and shutdown take the
        // consumer out first), so it takes no blocking-call permit: nobody waits for it, and
        // a drop must not depend on one.
        if let Some(consumer) = self.consumer.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn_blocking(move || drop(consumer));
                }
                Err(_) => drop(consumer),
            }
        }
    }
}

/// The regular expression a pattern subscription means: the whole topic name must match.
pub fn anchored_pattern(pattern: &str) -> Result<regex::Regex, ConsumeError> {
    regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|source| ConsumeError::InvalidPattern {
        pattern: pattern.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::ClientConfig;

    /// An instance whose consumer points at a port nothing listens on (librdkafka connects
    /// lazily, and `assignment()` answers locally).
    fn instance(blocking: BlockingCalls) -> Instance {
        let consumer: KafkaConsumer = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:9")
            .set("group.id", "unit")
            .create_with_context(InstanceContext::default())
            .expect("consumer");
        let settings = InstanceSettings {
            format: EmbeddedFormat::Binary,
            request_timeout: Duration::from_secs(1),
            fetch_min_bytes: None,
            auto_commit: false,
        };
        Instance::new("g".into(), "i".into(), settings, consumer, blocking)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_control_call_starts_only_after_an_abandoned_call_on_the_instance_returned() {
        let instance = Arc::new(instance(BlockingCalls::new(4)));
        let state = instance.lock().await.expect("open");
        let consumer = state.consumer(&instance).expect("consumer");
        drop(state);
        let events = Arc::new(StdMutex::new(Vec::<&str>::new()));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        // The first call blocks in "librdkafka" until the test releases it; its caller stops
        // waiting at once, as after a timeout.
        let first = {
            let (instance, consumer, events) = (
                Arc::clone(&instance),
                Arc::clone(&consumer),
                Arc::clone(&events),
            );
            tokio::spawn(async move {
                blocking(&instance, &consumer, "commit", move |_| {
                    wait.recv().ok();
                    events.lock().expect("events").push("first returns");
                    Ok(())
                })
                .await
            })
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while instance.turn.available_permits() != 0 {
            assert!(Instant::now() < deadline, "the first call never started");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        first.abort();
        let second = {
            let (instance, consumer, events) = (
                Arc::clone(&instance),
                Arc::clone(&consumer),
                Arc::clone(&events),
            );
            tokio::spawn(async move {
                blocking(&instance, &consumer, "assignment", move |c| {
                    events.lock().expect("events").push("second starts");
                    c.assignment()
                })
                .await
            })
        };
        // Give the second call every chance to start early (it must not), then release.
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        assert!(events.lock().expect("events").is_empty());
        release.send(()).expect("first call waits");
        let assigned = second.await.expect("task").expect("assignment");
        assert_eq!(assigned.count(), 0);
        assert_eq!(
            *events.lock().expect("events"),
            vec!["first returns", "second starts"]
        );
        // The first call's thread gives back the instance's turn (which lets the second start)
        // just before its blocking-call permit, so the second may finish while that permit is
        // still held for an instant: it must come back, not be back already.
        let deadline = Instant::now() + Duration::from_secs(10);
        while instance.blocking.in_use() != 0 {
            assert!(
                Instant::now() < deadline,
                "a blocking-call permit was never given back"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
