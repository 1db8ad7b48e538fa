package sockfds

// The program is compiled by scripts/ebpf-generate (clang, llvm, libbpf
// headers); the generated Go files and objects are committed so that
// `go build` needs no clang.
//
//go:generate go tool bpf2go -cc ${BPF_CLANG} -strip ${BPF_STRIP} -cflags "-O2 -g -Wall -Werror" -target bpfel,bpfeb sockfds bpf/sockfds.bpf.c
