// Package svctest builds what the packages that follow the store (metrics,
// notify) test against: a real [mpa.Service] on an in-memory Badger store
// with approvers registered by oathtool codes on a test clock ([New]), and a
// store whose change feed loses changes as a broken etcd watch does
// ([LossyStore]), and runs a follower of the store until it has subscribed
// ([Follow]). It is for tests only; the two packages used to carry a
// copy each.
package svctest
