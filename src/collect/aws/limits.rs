//! Caps on AWS calls in flight, with calls on the scan's critical path served first.
//!
//! Every call takes a permit of its service x account x region (AWS rate-limits each API per
//! account and region, so one account's rate is never exceeded however many accounts run at
//! once) and then one of the whole scan (sockets and memory stay bounded).
//!
//! A freed permit goes to the longest-waiting [`Priority::Chain`] call before any
//! [`Priority::Bulk`] one. Chain calls are those others wait on: listing and describing services
//! (a key read needs the description) and key reads (a rotation check needs `DescribeKey`).
//! Bulk calls end nothing but themselves: pages of custom domains. Measured on the org_scan
//! benchmark, the FIFO order queued key reads behind hundreds of domain pages of other accounts,
//! and the key chain, the longest of the scan, started last.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Which queue a call waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Other calls wait on its answer.
    Chain,
    /// Nothing waits on it.
    Bulk,
}

/// A number of permits, handed out chain calls first, then in arrival order.
#[derive(Debug)]
pub struct Gate {
    state: Mutex<GateState>,
}

#[derive(Debug)]
struct GateState {
    free: usize,
    chain: VecDeque<oneshot::Sender<Permit>>,
    bulk: VecDeque<oneshot::Sender<Permit>>,
}

/// One permit of a [`Gate`], given back when dropped.
#[derive(Debug)]
pub struct Permit {
    /// `None` only for a permit being handed back inside [`Gate::release`].
    gate: Option<Arc<Gate>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            gate.release();
        }
    }
}

impl Gate {
    pub fn new(permits: usize) -> Arc<Self> {
        Arc::new(Gate {
            state: Mutex::new(GateState {
                free: permits.max(1),
                chain: VecDeque::new(),
                bulk: VecDeque::new(),
            }),
        })
    }

    /// Waits for a permit. Cancel-safe: a permit handed to a caller that stopped waiting goes
    /// back to the gate (it is dropped with the channel that carried it).
    pub async fn acquire(self: &Arc<Self>, priority: Priority) -> Permit {
        let waiting = {
            let mut state = self.state.lock().expect("gate lock is never poisoned");
            if state.free > 0 {
                state.free -= 1;
                return Permit {
                    gate: Some(self.clone()),
                };
            }
            let (tx, rx) = oneshot::channel();
            match priority {
                Priority::Chain => state.chain.push_back(tx),
                Priority::Bulk => state.bulk.push_back(tx),
            }
            rx
        };
        waiting
            .await
            .expect("a waiter's sender is only dropped after sending")
    }

    /// Hands a freed permit to the next waiter, chain calls first, or keeps it.
    fn release(self: &Arc<Self>) {
        let mut state = self.state.lock().expect("gate lock is never poisoned");
        while let Some(next) = state.chain.pop_front().or_else(|| state.bulk.pop_front()) {
            match next.send(Permit {
                gate: Some(self.clone()),
            }) {
                Ok(()) => return,
                // That caller stopped waiting: offer the permit to the next one (disarmed
                // first, as giving it back from here would take this lock again).
                Err(mut unused) => drop(unused.gate.take()),
            }
        }
        state.free += 1;
    }
}

/// The gate of each service x account x region.
type ScopeGates = HashMap<(&'static str, String, String), Arc<Gate>>;

/// Caps on API calls in flight: one for the whole scan, one per service x account x region.
#[derive(Clone, Debug)]
pub struct Limits {
    global: Arc<Gate>,
    per_scope: usize,
    scopes: Arc<Mutex<ScopeGates>>,
}

impl Limits {
    pub fn new(global: usize, per_scope: usize) -> Self {
        Limits {
            global: Gate::new(global),
            per_scope: per_scope.max(1),
            scopes: Arc::default(),
        }
    }

    /// The gate of one AWS service (`apprunner`, `kms`) in one account x region.
    pub fn scope(&self, service: &'static str, account: &str, region: &str) -> Arc<Gate> {
        self.gate(service, account, region, self.per_scope)
    }

    /// The gate of the caller's `AssumeRole` calls (all from one account to one STS endpoint):
    /// four times a region's cap, as every account of an organization needs one and, 8 at a
    /// time, they would come in waves on the scan's critical path.
    pub fn role_gate(&self, caller: &str, sts_region: &str) -> Arc<Gate> {
        self.gate("sts", caller, sts_region, self.per_scope * 4)
    }

    /// The gate of `service` in `account` x `region`, made with `permits` the first time.
    fn gate(
        &self,
        service: &'static str,
        account: &str,
        region: &str,
        permits: usize,
    ) -> Arc<Gate> {
        self.scopes
            .lock()
            .expect("limits lock is never poisoned")
            .entry((service, account.to_string(), region.to_string()))
            .or_insert_with(|| Gate::new(permits))
            .clone()
    }

    /// A permit of the scan-wide cap alone, for a call made outside [`Limits::run`].
    pub async fn global_permit(&self, priority: Priority) -> Permit {
        self.global.acquire(priority).await
    }

    /// Runs one API call (its retries included) within both caps. The scope permit is taken
    /// first, so a call waiting for its busy account never holds a global permit.
    ///
    /// The call is made by `call` once both permits are held, on the heap: an SDK call's future
    /// is several kilobytes (a service's description and domains took 15 KB), and a call
    /// waiting for its permits no longer carries one. On the org_scan benchmark this cut the
    /// scanner's page faults by a sixth (about 16,200 to 13,400), its resident memory from
    /// about 81 to 70 MB and its CPU by about 5%; a region of hundreds of services, whose
    /// descriptions mostly wait for the region's permits, gains more.
    ///
    /// With its permits, the task yields once before the call. Most calls follow an answer just
    /// read, by this task or by the one whose finished call freed the permit, and that answer's
    /// connection is offered back to the pool only once its connection task has run: without
    /// the yield the call would find the pool empty and open a new connection (a TLS handshake,
    /// against AWS). One yield usually suffices (on a multi-thread runtime it cannot be
    /// certain). With the SDK's pool, the yield cut the connections of an org_scan benchmark
    /// scan from about 710-740 to 470-650 (see `shared_http_client`); yielding before taking
    /// the permits instead left 620-720, as a call woken by a freed permit then ran before the
    /// connection of the call that freed it was back.
    pub async fn run<F: FnOnce() -> Fut, Fut: Future>(
        &self,
        scope: &Arc<Gate>,
        priority: Priority,
        call: F,
    ) -> Fut::Output {
        let _scope = scope.acquire(priority).await;
        let _global = self.global.acquire(priority).await;
        tokio::task::yield_now().await;
        Box::pin(call()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Freed permits go to chain calls before earlier bulk calls, and never beyond the cap.
    #[tokio::test(flavor = "current_thread")]
    async fn chain_calls_go_first_within_the_cap() {
        let gate = Gate::new(1);
        let held = gate.acquire(Priority::Bulk).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, priority) in [
            ("bulk-1", Priority::Bulk),
            ("bulk-2", Priority::Bulk),
            ("chain-1", Priority::Chain),
            ("chain-2", Priority::Chain),
        ] {
            let (gate, order) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire(priority).await;
                order.lock().unwrap().push(name);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }));
            // Queue them in this order.
            tokio::task::yield_now().await;
        }
        drop(held);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            ["chain-1", "chain-2", "bulk-1", "bulk-2"]
        );
        assert_eq!(gate.state.lock().unwrap().free, 1, "every permit came back");
    }

    /// A caller that stops waiting does not take a permit with it.
    #[tokio::test(flavor = "current_thread")]
    async fn cancelled_waiters_lose_no_permit() {
        let gate = Gate::new(1);
        let held = gate.acquire(Priority::Chain).await;
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move {
                let _permit = gate.acquire(Priority::Chain).await;
            })
        };
        tokio::task::yield_now().await;
        waiter.abort();
        let _ = waiter.await;
        drop(held);
        let again = tokio::time::timeout(Duration::from_secs(5), gate.acquire(Priority::Bulk))
            .await
            .expect("the permit came back");
        drop(again);
        assert_eq!(gate.state.lock().unwrap().free, 1);
    }
}
