//! Each capability's in-memory state (a controller's last readings, the HA controller's view of
//! each host, the metrics held before they are written, …), kept in the [`App`] by type so the
//! kernel names none of them: the module that owns a state type implements [`Part`] for it and
//! reads it with [`App::part`]. A part is made on first use, from the app (its store and
//! configuration), and lives as long as the app.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::App;

/// A capability's state held by the app.
pub(crate) trait Part: Send + Sync + 'static {
    /// The state at start.
    fn new(app: &App) -> Self;
}

/// The parts made so far, by type.
#[derive(Default)]
pub(crate) struct Parts(Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>);

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map_or(0, |m| m.len());
        write!(f, "Parts({n})")
    }
}

impl App {
    /// Sets the state of type `T` (at start, before anything reads it: a part made from what
    /// only the start knows).
    pub(crate) fn insert_part<T: Part>(&self, value: T) {
        self.parts
            .0
            .lock()
            .expect("parts lock")
            .insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The state of type `T`, made on first use.
    pub(crate) fn part<T: Part>(&self) -> Arc<T> {
        let id = TypeId::of::<T>();
        if let Some(p) = self.parts.0.lock().expect("parts lock").get(&id) {
            return Arc::clone(p)
                .downcast()
                .expect("a part is stored under its own type");
        }
        // Made outside the lock: a part may read other parts as it is made.
        let made: Arc<dyn Any + Send + Sync> = Arc::new(T::new(self));
        let kept = Arc::clone(
            self.parts
                .0
                .lock()
                .expect("parts lock")
                .entry(id)
                .or_insert(made),
        );
        kept.downcast()
            .expect("a part is stored under its own type")
    }
}
