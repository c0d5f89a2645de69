// Package store is where keyturn's storage backends live. The interfaces
// they implement are defined by their users (see mpa.Store); each backend
// is a subpackage: badgerstore is the embedded one, for a single gate;
// etcdstore puts several gates on one etcd cluster. Both pass the
// compliance suite in mpa/storetest.
package store
