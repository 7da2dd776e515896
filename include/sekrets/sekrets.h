/*
 * sekrets/sekrets.h - libsekrets, the C client of sekretsd.
 */
#ifndef SEKRETS_SEKRETS_H
#define SEKRETS_SEKRETS_H

#include <sekrets/error.h>

#endif
