//! Domain lifecycle events: the process-wide libvirt event loop, and [`Connection`], a
//! libvirt connection that may carry one lifecycle callback reporting to a [`VmEventSink`].
//!
//! libvirt delivers events only to a process that registered an event loop implementation
//! *before* opening its connections, and only while something runs that loop. [`open`]
//! therefore starts libvirt's default loop on a thread of its own the first time any
//! connection is opened; every connection the driver opens goes through it. The same loop
//! runs the keepalive timers and watches each connection's socket, which is how a dead or
//! hung daemon is noticed (and `virConnectIsAlive` turns false) without a call failing first.
//!
//! virt 0.5 wraps the event loop (`virt::event`) but has no domain-event API, so this module
//! registers the callback through `virt::sys`. It owns the callback's heap data (the sink, in
//! a `Box` whose ownership passes to libvirt) and deregisters the callback before the
//! connection is closed: a registered callback holds a reference on its connection, which
//! would otherwise never be released.
// SAFETY (module-wide allowance): `unsafe` is denied crate-wide and allowed here (and in
// `stats`) only, for FFI calls into libvirt and the callbacks libvirt calls back; each block
// states why it is sound.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::OnceLock;
use std::time::Duration;

use vdc_driver::VmEventSink;
use virt::connect::Connect;
use virt::error::Error;
use virt::sys;

/// Keepalive on every connection: a probe after 5 s without traffic, the connection closed
/// after 3 unanswered ones, so a hung daemon is given up on within about 20 s.
const KEEPALIVE_INTERVAL_S: i32 = 5;
const KEEPALIVE_COUNT: u32 = 3;

/// Starts libvirt's default event loop, once per process, on the thread `libvirt-events`.
/// True when it runs; false when it could not be started (logged), in which case
/// connections still work but deliver no events and no keepalives.
pub(crate) fn event_loop() -> bool {
    static RUNNING: OnceLock<bool> = OnceLock::new();
    *RUNNING.get_or_init(|| {
        if let Err(e) = virt::event::event_register_default_impl() {
            tracing::error!(error = %e, "cannot register libvirt's event loop: no VM events");
            return false;
        }
        let spawned = std::thread::Builder::new()
            .name("libvirt-events".into())
            .spawn(|| {
                loop {
                    // One iteration: waits for the next file handle or timer, dispatches it.
                    if let Err(e) = virt::event::event_run_default_impl() {
                        tracing::warn!(error = %e, "libvirt event loop iteration failed");
                        // Not a busy loop should the failure persist.
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            });
        match spawned {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the libvirt event thread: no VM events");
                false
            }
        }
    })
}

/// Opens `uri` after the event loop is running, with keepalive on where the driver has it
/// (the remote driver does; local in-process drivers such as `test:///` do not need it).
pub(crate) fn open(uri: &str) -> Result<Connect, Error> {
    let events = event_loop();
    let conn = Connect::open(Some(uri))?;
    if events && let Err(e) = conn.set_keep_alive(KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT) {
        tracing::debug!(uri, error = %e, "no keepalive on this connection");
    }
    Ok(conn)
}

/// A driver's connection, and the lifecycle callback registered on it, if any.
///
/// Dropping it deregisters the callback, then closes the connection.
pub(crate) struct Connection {
    conn: Connect,
    callback: Option<c_int>,
}

impl Connection {
    /// Opens `uri` (see [`open`]), with no callback yet.
    pub(crate) fn open(uri: &str) -> Result<Connection, Error> {
        Ok(Connection {
            conn: open(uri)?,
            callback: None,
        })
    }

    pub(crate) fn conn(&self) -> &Connect {
        &self.conn
    }

    /// Whether a lifecycle callback is registered on this connection.
    pub(crate) fn is_watched(&self) -> bool {
        self.callback.is_some()
    }

    /// Registers a lifecycle callback that calls `sink` with the domain's UUID for every
    /// lifecycle event of any domain on this connection, from the event thread. Replaces
    /// the callback registered before, if any.
    pub(crate) fn watch(&mut self, sink: &VmEventSink) -> Result<(), Error> {
        self.unwatch();
        let opaque = Box::into_raw(Box::new(sink.clone())).cast::<c_void>();
        // SAFETY: libvirt calls a lifecycle callback with the signature of `lifecycle`
        // (`virConnectDomainEventCallback`) and declares the parameter with the generic
        // type, to be cast, as its own VIR_DOMAIN_EVENT_CALLBACK macro does; both are
        // `extern "C"` function pointers of the same size. The connection pointer is live
        // (borrowed). `opaque` is a leaked `Box<VmEventSink>` that libvirt passes to
        // `lifecycle` on each event and to `free_sink` exactly once when the callback is
        // deregistered or its connection freed; it is not touched here after success.
        let id = unsafe {
            let cb = std::mem::transmute::<
                unsafe extern "C" fn(
                    sys::virConnectPtr,
                    sys::virDomainPtr,
                    c_int,
                    c_int,
                    *mut c_void,
                ) -> c_int,
                unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, *mut c_void),
            >(lifecycle);
            sys::virConnectDomainEventRegisterAny(
                self.conn.as_ptr(),
                ptr::null_mut(),
                sys::VIR_DOMAIN_EVENT_ID_LIFECYCLE as c_int,
                Some(cb),
                opaque,
                Some(free_sink),
            )
        };
        if id < 0 {
            let e = Error::last_error();
            // SAFETY: a failed registration does not call the free callback (libvirt
            // deregisters with its freecb inhibited on that path, so the caller can free
            // its data): the box is still ours, and freed once, here.
            drop(unsafe { Box::from_raw(opaque.cast::<VmEventSink>()) });
            return Err(e);
        }
        self.callback = Some(id);
        Ok(())
    }

    /// Deregisters the lifecycle callback, if any. On a dead connection libvirt removes the
    /// callback locally (freeing its sink) and then fails to tell the daemon, which no
    /// longer exists; that failure is ignored.
    pub(crate) fn unwatch(&mut self) {
        let Some(id) = self.callback.take() else {
            return;
        };
        // SAFETY: the connection pointer is live (owned by `self`) and `id` was returned
        // by a registration on this connection and is deregistered once (taken above).
        let rc = unsafe { sys::virConnectDomainEventDeregisterAny(self.conn.as_ptr(), id) };
        if rc < 0 {
            tracing::debug!(error = %Error::last_error(), "deregistering the lifecycle callback");
        }
    }
}

impl Drop for Connection {
    /// Deregisters, then `Connect`'s own Drop closes the connection. That Drop panics when
    /// `virConnectClose` fails, which it does only for a pointer that is not a valid
    /// connection: this one is valid until then (it came from `virConnectOpen` and this
    /// struct holds its only `Connect`), dead or not, so dropping a dead connection cannot
    /// panic. Without the deregistration the close would merely leave the connection
    /// referenced by its callback (returning 1, not an error) and leak it and its socket.
    fn drop(&mut self) {
        self.unwatch();
    }
}

/// libvirt's lifecycle callback (`virConnectDomainEventCallback`): reports the domain's
/// UUID to the sink in `opaque`. Runs on the event thread; must not unwind into C, so
/// everything, the sink included, runs under `catch_unwind`.
unsafe extern "C" fn lifecycle(
    _conn: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    event: c_int,
    detail: c_int,
    opaque: *mut c_void,
) -> c_int {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if opaque.is_null() {
            return;
        }
        // SAFETY: `opaque` is the `Box<VmEventSink>` given at registration; libvirt frees
        // it (`free_sink`) only after the callback is deregistered and no dispatch is in
        // progress, so it is valid for this call, and only read.
        let sink = unsafe { &*opaque.cast::<VmEventSink>() };
        // `dom` is valid for the duration of the callback.
        match crate::stats::domain_uuid(dom) {
            Some(id) => {
                tracing::trace!(%id, event, detail, "domain lifecycle event");
                sink(id);
            }
            None => tracing::debug!(event, detail, "lifecycle event for a domain without a UUID"),
        }
    }));
    if outcome.is_err() {
        tracing::error!("a VM event sink panicked; the event is lost");
    }
    0
}

/// libvirt's free callback for the sink given at registration.
unsafe extern "C" fn free_sink(opaque: *mut c_void) {
    if opaque.is_null() {
        return;
    }
    // SAFETY: `opaque` is the `Box<VmEventSink>` leaked at registration; libvirt calls
    // this exactly once per successful registration, after the last dispatch to it.
    let sink = unsafe { Box::from_raw(opaque.cast::<VmEventSink>()) };
    // Dropping the last reference runs the sink's destructors: no unwinding into C.
    if catch_unwind(AssertUnwindSafe(move || drop(sink))).is_err() {
        tracing::error!("dropping a VM event sink panicked");
    }
}
