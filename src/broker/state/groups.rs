//! Message groups (`JMSXGroupID`): which consumer of a queue each group is
//! pinned to. Bounded as ActiveMQ's default `CachedMessageGroupMap`: past
//! [`MessageGroups::CAPACITY`] groups the least recently used one is
//! forgotten, and its next message is assigned afresh.

use super::SubKey;
use hashlink::LruCache;

pub(crate) struct MessageGroups {
    owners: LruCache<String, SubKey>,
}

impl Default for MessageGroups {
    fn default() -> Self {
        MessageGroups {
            owners: LruCache::new(Self::CAPACITY),
        }
    }
}

impl MessageGroups {
    /// Groups remembered per queue (ActiveMQ's default cache size).
    pub const CAPACITY: usize = 1024;

    /// The consumer `group` is pinned to (now the most recently used).
    pub fn owner(&mut self, group: &str) -> Option<&SubKey> {
        self.owners.get(group)
    }

    /// Pins `group` to `owner`.
    pub fn assign(&mut self, group: String, owner: SubKey) {
        self.owners.insert(group, owner);
    }

    /// Ends `group` (a message with `JMSXGroupSeq` -1 was delivered).
    pub fn close(&mut self, group: &str) {
        self.owners.remove(group);
    }

    /// Unpins every group of a consumer that left.
    pub fn forget(&mut self, owner: &SubKey) {
        let theirs: Vec<String> = self
            .owners
            .iter()
            .filter(|(_, o)| *o == owner)
            .map(|(g, _)| g.clone())
            .collect();
        for g in theirs {
            self.owners.remove(&g);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_least_recently_used_group_is_forgotten_past_the_capacity() {
        let mut g = MessageGroups::default();
        let a: SubKey = (1, Arc::from("a"));
        let b: SubKey = (2, Arc::from("b"));
        for i in 0..MessageGroups::CAPACITY {
            g.assign(format!("g{i}"), a.clone());
        }
        assert_eq!(g.owner("g0"), Some(&a), "g0 is now the most recent");
        g.assign("new".into(), b.clone());
        assert_eq!(g.owners.len(), MessageGroups::CAPACITY);
        assert_eq!(g.owner("g1"), None, "g1 was the least recently used");
        assert_eq!(g.owner("g0"), Some(&a));
        g.close("g0");
        assert_eq!(g.owner("g0"), None);
        g.forget(&a);
        assert_eq!(g.owners.len(), 1);
        assert_eq!(g.owner("new"), Some(&b));
    }
}
