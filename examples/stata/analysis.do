* surveyfuse for Stata users: impute the investment-income block of a donor
* survey onto a recipient survey, then analyse it with Stata's mi commands so
* that standard errors include the uncertainty of the imputation.
*
* Needs the surveyfuse command line (pip install surveyfuse, or `make install`
* in the repository) and Stata 14 or later. Run from this folder:
*     do analysis.do
* The files: cps_donor.dta (observes the block), cps_recipient.dta (does not),
* impute.json (the task: predictors, block, constraints, 10 imputations).

version 14
clear all

* 1. Impute. The output holds the original recipient rows (_imp == 0, block
*    missing) and 10 imputed copies (_imp == 1..10); _row identifies a
*    recipient record across them. Labels and missing codes (.a) are kept.
shell surveyfuse run impute.json

* 2. Declare the multiple-imputation data.
use cps_imputed.dta, clear
mi import flong, m(_imp) id(_row) imputed(e00300 e00400 e00600 e00650 e01100) clear
mi describe

* 3. Analyse: mi estimate fits the model on each imputation and combines the
*    estimates with Rubin's rules (never analyse one imputation alone).
mi estimate: regress e00600 age_head e00200 i.MARS [pweight = s006]
mi estimate: mean e00600 e00650 [pweight = s006]

* 4. A variable derived from imputed values is "passive": mi passive builds it
*    in every imputation (and registers it).
mi passive: generate div_share = e00650 / e00600 if e00600 > 0
mi estimate: mean div_share [pweight = s006]
