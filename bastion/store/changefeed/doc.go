// Package changefeed is the fan-out half of a store's [mpa.Store.Changes]
// feed that both backends share: each subscriber gets a [Queue] with no
// bound, so a slow reader never holds up the source of changes (Badger's
// publisher path, an etcd watch) or anyone's commits. How changes are
// found and decoded stays with each backend; [InOrder] puts each batch in
// the order the feed promises before it is queued.
package changefeed
