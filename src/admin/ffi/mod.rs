//! The librdkafka admin calls that rust-rdkafka does not wrap (or wraps without what the v3 API
//! needs: the broker's error messages, config synonyms and sources, the cluster-default broker
//! resource, incremental config changes, the cluster description), called through
//! `rdkafka::bindings`.
//!
//! This is the only module of the crate allowed `unsafe` (the workspace denies it everywhere
//! else). Each `unsafe` block says in a `// SAFETY:` comment why it is sound; every object
//! librdkafka allocates for a call is owned by an RAII wrapper of this module that frees it.
//! One file per area: `cluster.rs`, `configs.rs`, `topics.rs` (and the consumer group, lag and
//! ACL files of those services). Every call here blocks its thread until Kafka answers or its
//! deadline passes, so callers run them on the blocking pool (`crate::blocking`); this module
//! knows nothing about that pool, HTTP or the proxy's error codes.
#![allow(unsafe_code)]

pub mod acls;
pub mod cluster;
pub mod configs;
pub mod groups;
pub mod offsets;
pub mod topics;

use std::ffi::{c_char, c_int, CStr, CString};
use std::time::{Duration, Instant};

use rdkafka::bindings as rd;
use rdkafka::client::{Client, DefaultClientContext};
use rdkafka::error::RDKafkaErrorCode;

/// The librdkafka client an admin call goes through (the admin client's inner client).
pub type NativeClient = Client<DefaultClientContext>;

/// Why a librdkafka admin call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FfiError {
    /// Kafka (or librdkafka on its behalf) answered with an error code; `message` is the
    /// broker's own text when it sent one, else librdkafka's description of the code.
    #[error("{message}")]
    Kafka {
        code: RDKafkaErrorCode,
        message: String,
    },
    /// No result arrived by the call's deadline.
    #[error("no answer from Kafka within {0:?}")]
    TimedOut(Duration),
    /// librdkafka refused to build the request (an argument it rejects, such as a name with a
    /// NUL byte or a replica assignment of the wrong shape).
    #[error("{0}")]
    Invalid(String),
}

impl FfiError {
    fn kafka(code: RDKafkaErrorCode, message: Option<String>) -> FfiError {
        FfiError::Kafka {
            code,
            message: message
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| code.to_string()),
        }
    }
}

/// A C string for librdkafka, or [`FfiError::Invalid`] when `s` holds a NUL byte.
fn c_string(s: &str) -> Result<CString, FfiError> {
    CString::new(s).map_err(|_| FfiError::Invalid(format!("{s:?} contains a NUL byte")))
}

/// Copies a string librdkafka owns; `None` for a null pointer.
///
/// # Safety
/// `ptr` is null or points to a NUL-terminated string that stays valid during this call.
unsafe fn owned(ptr: *const c_char) -> Option<String> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: non-null, and the caller guarantees a valid NUL-terminated string.
        Some(
            unsafe { CStr::from_ptr(ptr) }
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// The elements of an array librdkafka returns as a pointer and a count.
///
/// # Safety
/// `ptr` is null (then `count` is ignored) or points to `count` readable elements that stay
/// valid for `'a`.
unsafe fn slice<'a, T>(ptr: *mut T, count: usize) -> &'a [T] {
    if ptr.is_null() || count == 0 {
        &[]
    } else {
        // SAFETY: the caller guarantees `count` valid elements at `ptr`.
        unsafe { std::slice::from_raw_parts(ptr, count) }
    }
}

/// Milliseconds left until `deadline` for a librdkafka timeout: at least 1 (0 means "do not
/// wait" to some calls), at most `c_int::MAX`.
fn millis_left(deadline: Instant) -> c_int {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .as_millis();
    c_int::try_from(left).unwrap_or(c_int::MAX).max(1)
}

/// A librdkafka object with its destructor: freed when dropped.
macro_rules! owned_ptr {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $destroy:path) => {
        $(#[$doc])*
        struct $name(std::ptr::NonNull<$ty>);

        impl $name {
            /// Takes ownership of `ptr`; `None` when it is null.
            ///
            /// # Safety
            /// `ptr` is null or an object the caller owns and that nothing else frees.
            unsafe fn from_raw(ptr: *mut $ty) -> Option<Self> {
                std::ptr::NonNull::new(ptr).map($name)
            }

            fn ptr(&self) -> *mut $ty {
                self.0.as_ptr()
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                // SAFETY: the pointer is owned by this wrapper (see `from_raw`) and freed once.
                unsafe { $destroy(self.0.as_ptr()) }
            }
        }
    };
}
pub(crate) use owned_ptr;

owned_ptr!(
    /// A queue of its own per call, so that the call's result event comes to nobody else.
    Queue,
    rd::rd_kafka_queue_t,
    rd::rd_kafka_queue_destroy
);
owned_ptr!(
    /// A call's result event.
    Event,
    rd::rd_kafka_event_t,
    rd::rd_kafka_event_destroy
);
owned_ptr!(
    /// A call's options (timeouts, validate-only).
    Options,
    rd::rd_kafka_AdminOptions_t,
    rd::rd_kafka_AdminOptions_destroy
);
owned_ptr!(
    /// An error object some setters return.
    ErrorObject,
    rd::rd_kafka_error_t,
    rd::rd_kafka_error_destroy
);

/// Turns an error object a setter returned (null for success) into a result, freeing it.
///
/// # Safety
/// `error` is null or an error object the caller owns.
unsafe fn check_error_object(error: *mut rd::rd_kafka_error_t) -> Result<(), FfiError> {
    // SAFETY: the caller hands over ownership of `error`.
    let Some(error) = (unsafe { ErrorObject::from_raw(error) }) else {
        return Ok(());
    };
    // SAFETY: `error` is a live error object; its string lives as long as it does.
    let (code, message) = unsafe {
        (
            rd::rd_kafka_error_code(error.ptr()),
            owned(rd::rd_kafka_error_string(error.ptr())),
        )
    };
    Err(FfiError::kafka(code.into(), message))
}

/// What a call asks of its options besides the deadline.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallOptions {
    /// Ask Kafka to check the request without applying it.
    pub validate_only: bool,
}

/// Runs one admin request and waits (blocking this thread) for its result event, at most until
/// `deadline`. `start` is handed the client, the options and the queue, and must enqueue exactly
/// one request on that queue. The event is checked for a request-level error; per-resource
/// errors are for the caller to read.
fn call(
    client: &NativeClient,
    op: rd::rd_kafka_admin_op_t,
    deadline: Instant,
    extra: CallOptions,
    start: impl FnOnce(
        *mut rd::rd_kafka_t,
        *const rd::rd_kafka_AdminOptions_t,
        *mut rd::rd_kafka_queue_t,
    ),
) -> Result<Event, FfiError> {
    let rk = client.native_ptr();
    // SAFETY: `rk` is the live handle of `client`, which outlives this call.
    let queue = unsafe { Queue::from_raw(rd::rd_kafka_queue_new(rk)) }
        .ok_or_else(|| FfiError::Invalid("librdkafka could not create a queue".into()))?;
    // SAFETY: as above; the options are owned by the wrapper.
    let options = unsafe { Options::from_raw(rd::rd_kafka_AdminOptions_new(rk, op)) }
        .ok_or_else(|| FfiError::Invalid(format!("librdkafka has no admin operation {op:?}")))?;
    let mut errstr = [0 as c_char; 512];
    let timeout = millis_left(deadline);
    // SAFETY: `options` is live; `errstr` is a writable buffer of the given size.
    let mut err = unsafe {
        rd::rd_kafka_AdminOptions_set_request_timeout(
            options.ptr(),
            timeout,
            errstr.as_mut_ptr(),
            errstr.len(),
        )
    };
    if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
        && matches!(
            op,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATETOPICS
                | rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETETOPICS
                | rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEPARTITIONS
        )
    {
        // The broker waits for the change to be applied (up to the same deadline) before it
        // answers, so a topic created or grown is there when the client gets its answer.
        // SAFETY: as above.
        err = unsafe {
            rd::rd_kafka_AdminOptions_set_operation_timeout(
                options.ptr(),
                timeout,
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
    }
    if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && extra.validate_only {
        // SAFETY: as above.
        err = unsafe {
            rd::rd_kafka_AdminOptions_set_validate_only(
                options.ptr(),
                1,
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
    }
    if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: librdkafka wrote a NUL-terminated message into `errstr`.
        let message = unsafe { owned(errstr.as_ptr()) }.unwrap_or_default();
        return Err(FfiError::Invalid(message));
    }
    start(rk, options.ptr(), queue.ptr());
    // librdkafka answers a request that timed out with an error event of its own by the
    // request timeout; the extra second only covers scheduling.
    let wait = deadline + Duration::from_secs(1);
    // SAFETY: `queue` is live; the event returned (if any) is ours to destroy.
    let event = unsafe { Event::from_raw(rd::rd_kafka_queue_poll(queue.ptr(), millis_left(wait))) }
        .ok_or(FfiError::TimedOut(
            deadline.saturating_duration_since(Instant::now()),
        ))?;
    // SAFETY: `event` is live; its error string lives as long as it does.
    let (code, message) = unsafe {
        (
            rd::rd_kafka_event_error(event.ptr()),
            owned(rd::rd_kafka_event_error_string(event.ptr())),
        )
    };
    if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return Err(FfiError::kafka(code.into(), message));
    }
    Ok(event)
}

/// The name, error code and error message of one topic result of a topic admin call.
///
/// # Safety
/// `result` points to a live topic result.
unsafe fn topic_result(
    result: *const rd::rd_kafka_topic_result_t,
) -> (String, Result<(), FfiError>) {
    // SAFETY: the caller guarantees a live result; its strings live as long as it does.
    let (name, code, message) = unsafe {
        (
            owned(rd::rd_kafka_topic_result_name(result)).unwrap_or_default(),
            rd::rd_kafka_topic_result_error(result),
            owned(rd::rd_kafka_topic_result_error_string(result)),
        )
    };
    let outcome = if code == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        Ok(())
    } else {
        Err(FfiError::kafka(code.into(), message))
    };
    (name, outcome)
}
