// Package faulttest runs the real goqueue binary against physical faults of
// its storage: a full device (a small tmpfs), a removed data directory, a low
// open-file limit, and bytes flipped inside segment files. It holds only
// tests; each fault is made the way an operator or a disk would make it.
package faulttest
