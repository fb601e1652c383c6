#!/bin/sh
# make_man.sh QVL OUT.1 - writes the qvl(1) man page from the program's own
# help texts (`qvl --help` and every `qvl <command> --help`), so the page
# can never disagree with the binary it is installed with. Plain roff: the
# help texts go in verbatim (.nf), with backslashes and leading dots escaped.
set -eu
qvl=$1; out=$2
esc() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
{
    echo '.TH QVL 1 "" "qvl" "User Commands"'
    echo '.SH NAME'
    echo 'qvl \- Qwen3-VL vision-language model on the CPU: ask, serve, batch'
    echo '.SH SYNOPSIS'
    echo '.B qvl'
    echo '.I command'
    echo '[options]'
    echo '.SH DESCRIPTION'
    echo '.nf'
    "$qvl" --help | esc
    echo '.fi'
    echo '.SH COMMANDS'
    for c in $("$qvl" --help | sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p'); do
        echo ".SS qvl $c"
        echo '.nf'
        "$qvl" "$c" --help | esc
        echo '.fi'
    done
    echo '.SH ENVIRONMENT'
    echo 'Every option of \fBqvl serve\fR has a variable: \fB--max-queue\fR is \fBQVL_MAX_QUEUE\fR;'
    echo 'flags take 1 or 0. \fBQVL_CONFIG\fR names a settings file. \fBQVL_MODEL\fR is the default'
    echo 'model of every command; \fBQVL_CACHE_DIR\fR the quantization cache (default ~/.cache/qvl);'
    echo '\fBQVL_OCR_RULES\fR the OCR routing rules.'
    echo '.SH FILES'
    echo '.TP'
    echo '.I PREFIX/share/qvl/ocr-rules.txt'
    echo 'the OCR routing rules'
    echo '.TP'
    echo '.I PREFIX/share/qvl/qvl.conf.example'
    echo 'a settings file for \fBqvl serve --config\fR'
    echo '.TP'
    echo '.I PREFIX/share/qvl/deploy/'
    echo 'the systemd unit, the nginx configuration and cluster.sh (see docs/deploy.md)'
} > "$out"
